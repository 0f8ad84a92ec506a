using System.Text.Json;
using RdmaDiag.Cli;
using RdmaDiag.Cli.Commands;

namespace RdmaDiag.Tests.Native;

public class DevicesCommandTests
{
    private static (int Code, string Out) Run(string fixture, FakeUserspace userspace, params string[] args)
    {
        using var f = SysfsFixture.Load(fixture);
        var root = new System.CommandLine.RootCommand { new DevicesCommand(f.Host, userspace) };
        var output = new StringWriter();
        var code = root.Parse(["devices", .. args]).Invoke(new System.CommandLine.InvocationConfiguration { Output = output, Error = new StringWriter() });
        return (code, output.ToString());
    }

    [Fact]
    public void Devices_SiwPresent_ExitsZeroAndListsDevice()
    {
        var (code, text) = Run("siw.tree", new FakeUserspace());

        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("siw0: siw, iWARP (RNIC)", text);
        Assert.Contains("netdev dummy0: unknown, mtu 1500, mac 7a:5c:6e:1d:00:01, 10.9.9.1/24", text);
    }

    [Fact]
    public void Devices_NoDevice_ExitsUnavailable()
    {
        var (code, text) = Run("siw-unlinked.tree", new FakeUserspace());

        Assert.Equal(ExitCodes.Unavailable, code);
        Assert.Contains("fix:  rdma link add siw0 type siw netdev ens3", text);
    }

    [Fact]
    public void DevicesJson_Irdma_IsOneJsonObject()
    {
        var (code, json) = Run("irdma.tree", new FakeUserspace(), "--json");

        Assert.Equal(ExitCodes.Ok, code);
        using var doc = JsonDocument.Parse(json);
        Assert.Equal("irdma", doc.RootElement.GetProperty("devices")[0].GetProperty("driver").GetString());
    }

    [Fact]
    public void Root_Help_ListsDevicesVerb()
    {
        var output = new StringWriter();
        CliRoot.Run(["--help"], output, new StringWriter());

        Assert.Contains("devices", output.ToString());
    }
}
