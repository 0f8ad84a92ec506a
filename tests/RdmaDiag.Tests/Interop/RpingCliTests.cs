using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.RegularExpressions;
using RdmaDiag.Tests.Support;
using RdmaDiag.Cli;
using RdmaDiag.Endpoint;
using RdmaDiag.Rping;
using RdmaDiag.Verbs;

// Not RdmaDiag.Tests.Interop: that name would hide the Core's Interop class from the other tests.
namespace RdmaDiag.Tests.SiwInterop;

/// <summary>`check --rping`, `serve --rping` and `--verbs` as wired into the CLI, on loopback with the soft endpoint.</summary>
public partial class RpingCliTests
{
    [Theory]
    [InlineData("check 127.0.0.1 --verbs", "--verbs needs --rping")]
    [InlineData("check 127.0.0.1 --soft --verbs --rping", "--soft and --verbs both given")]
    [InlineData("check 127.0.0.1 --rping --count 0", "--count 0 must be at least 1")]
    [InlineData("check 127.0.0.1 --rping --rping-size 10", "--rping-size 10 is outside rping's 26 to 65535 octets")]
    [InlineData("serve", "serve needs --soft")]
    [InlineData("serve --verbs", "--verbs needs --rping")]
    [InlineData("serve --soft --verbs --rping", "--soft and --verbs both given")]
    [InlineData("serve --soft --rping --listen 192.0.2.77 --port 0", "cannot listen there")]
    public void Command_BadRpingOrVerbsInput_PrintsOneLineAndExits2(string arguments, string expected)
    {
        var error = new StringWriter();

        int exit = CliRoot.Run(arguments.Split(' '), new StringWriter(), error);

        Assert.Equal(ExitCodes.BadInput, exit);
        string message = error.ToString().TrimEnd();
        Assert.DoesNotContain('\n', message);
        Assert.StartsWith("rdmadiag: ", message);
        Assert.Contains(expected, message);
    }

    [Fact]
    public async Task CheckRping_AgainstRpingServer_VerdictOkWithEveryPingVerified()
    {
        using var stop = new CancellationTokenSource();
        using TransportServer server = TransportServer.Start(
            SoftListener.Start(new IPEndPoint(IPAddress.Loopback, 0), RpingProtocol.SoftSetup(IwarpSetupOptions.Default)),
            t => new RpingServer(t), new StringWriter());
        Task serving = server.RunAsync(stop.Token);
        var output = new StringWriter();
        int port = ((IPEndPoint)server.LocalEndPoint).Port;

        int exit = CliRoot.Run(["check", "127.0.0.1", "--port", $"{port}", "--rping", "--count", "3", "--rping-size", "100", "--json", "--no-capture"], output, new StringWriter());
        stop.Cancel();
        await serving.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(0, exit);
        using JsonDocument json = JsonDocument.Parse(output.ToString());
        JsonElement root = json.RootElement;
        Assert.Equal("ok", root.GetProperty("cause").GetString());
        Assert.Contains("rping verified at 100 B", root.GetProperty("sentence").GetString());
        // rping's IRD and ORD of 1 in the MPA Request when --ird/--ord are not given, however many pings.
        Assert.Contains("[IRD 1 ORD 1]", root.GetProperty("mpa").GetProperty("request").GetString());
        string stages = root.GetProperty("stages").ToString();
        Assert.Contains("ping 2: verified", stages);
    }

    [Fact]
    public async Task ServeRpingProcess_PingedThenSigterm_LogsVerifiedPingsAndExitsZero()
    {
        using ServeProcess serve = await ServeProcess.StartAsync("serve --soft --rping --listen 127.0.0.1 --port 0");

        ClientConnector connector = ClientConnector.Soft(RpingProtocol.SoftSetup(IwarpSetupOptions.Default));
        using (IRdmaTransport transport = connector.Prepare(serve.EndPoint))
        using (var client = new RpingClient(transport, 64, TimeSpan.FromSeconds(10)))
        {
            connector.Connect(transport);
            Assert.All(client.Run(3), r => Assert.True(r.Verified, r.Detail));
            transport.Close();
        }
        Assert.Contains("established: rev 2/2 enhanced crc off", await serve.NextLogLineAsync());
        Assert.Contains("closed by the peer after 3 rping iteration(s), 3 verified", await serve.NextLogLineAsync());

        string rest = await serve.StopAsync(15 /* SIGTERM */);
        Assert.Equal(0, serve.ExitCode);
        Assert.Contains("rdmadiag serve: stopped", rest);
    }
}
