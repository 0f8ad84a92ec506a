using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using RdmaDiag.Cli;
using RdmaDiag.Diagnostics.Check;
using RdmaDiag.Endpoint;
using Xunit.Abstractions;

namespace RdmaDiag.Tests.CheckVerb;

/// <summary>check --soft end to end on loopback against an in-process serve --soft (no root needed).</summary>
public class CheckLoopbackTests(ITestOutputHelper output)
{
    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliRoot.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void Run_AgainstServeSoftOnLoopback_OkWithEveryStageAndOperation()
    {
        using var serve = ServePeer.Start(null);

        CheckReport report = CheckRunner.Run(new CheckOptions { Host = "127.0.0.1", Port = serve.EndPoint.Port, Capture = false });
        CheckMatrix.Record(output, "loopback ok", report);

        Assert.Equal(CheckCauses.Ok, report.Cause);
        Assert.Equal(StageNames.All, report.Stages.Select(s => s.Name));
        Assert.All(report.Stages, s => Assert.Equal(StageStatus.Ok, s.Status));
        Assert.Equal(12, report.Operations.Count);
        Assert.All(report.Operations, o => Assert.True(o.Verified, $"{o.Operation} {o.Size}: {o.Detail}"));
        Assert.Equal(2, report.Parameters!.ReplyRevision);
        Assert.True(report.Parameters.Mulpdu > 0);
        Assert.Contains("dev lo", string.Join('\n', report.Stage(StageNames.Route).Evidence));
        Assert.Contains("cannot be timed apart", string.Join('\n', report.Stage(StageNames.TcpConnect).Evidence));
        Assert.Equal("--no-capture was given", report.CaptureUnavailable);
    }

    [Fact]
    public void Run_WithCrcPeerToPeerAndPrivateData_NegotiatesWhatWasAsked()
    {
        using var serve = ServePeer.Start(null, IwarpSetupOptions.Default with { Crc = CrcPolicy.Preferred });
        var setup = IwarpSetupOptions.Default with { PeerToPeer = RtrTypes.Write | RtrTypes.Read, Ird = 8, Ord = 4 };

        CheckReport report = CheckRunner.Run(new CheckOptions
        {
            Host = "127.0.0.1", Port = serve.EndPoint.Port, Setup = setup, PrivateData = new byte[] { 0xF6, 0xAB, 0x0E, 0x18 }, Sizes = [64, 65536], Capture = false,
        });
        CheckMatrix.Record(output, "loopback crc+p2p", report);

        Assert.Equal(CheckCauses.Ok, report.Cause);
        NegotiatedParameters p = report.Parameters!;
        Assert.True(p.Crc);
        Assert.True(p.PeerToPeer);
        Assert.Equal(RtrType.Write, p.Rtr);
        Assert.Equal(4, p.Ord);
        Assert.Contains("private data: 4 octets sent", CheckOutput.MpaText(report));
        Assert.Contains("peer-to-peer, write RTR", CheckOutput.MpaText(report));
    }

    [Fact]
    public void Run_NothingListensOnLoopback_TcpRefusedFast()
    {
        int port = FreePort();

        CheckReport report = CheckRunner.Run(new CheckOptions { Host = "127.0.0.1", Port = port, Capture = false });

        Assert.Equal(CheckCauses.TcpRefused, report.Cause);
        Assert.Equal(StageStatus.Failed, report.Stage(StageNames.TcpConnect).Status);
        Assert.Equal(StageStatus.Skipped, report.Stage(StageNames.Teardown).Status);
        Assert.True(report.Elapsed < TimeSpan.FromSeconds(2), $"{report.Elapsed}");
    }

    [Fact]
    public void CheckJson_AgainstServeSoft_HasTheDocumentedShape()
    {
        using var serve = ServePeer.Start(null);

        var (code, json, err) = Cli("check", "127.0.0.1", "--port", serve.EndPoint.Port.ToString(), "--json", "--sizes", "64,4k", "--no-capture");
        output.WriteLine(json);

        Assert.True(code == 0, err);
        using var document = JsonDocument.Parse(json);
        JsonElement root = document.RootElement;
        Assert.Equal("ok", root.GetProperty("verdict").GetString());
        Assert.Equal("ok", root.GetProperty("cause").GetString());
        Assert.Equal(0, root.GetProperty("exit_code").GetInt32());
        Assert.False(string.IsNullOrEmpty(root.GetProperty("sentence").GetString()));
        Assert.False(string.IsNullOrEmpty(root.GetProperty("fix").GetString()));
        Assert.Equal(2, root.GetProperty("mpa").GetProperty("reply_revision").GetInt32());
        Assert.Equal("none", root.GetProperty("mpa").GetProperty("rtr").GetString());
        JsonElement stages = root.GetProperty("stages");
        Assert.Equal(7, stages.GetArrayLength());
        foreach (JsonElement stage in stages.EnumerateArray())
        {
            Assert.Equal(JsonValueKind.String, stage.GetProperty("name").ValueKind);
            Assert.Equal("ok", stage.GetProperty("status").GetString());
            Assert.Equal(JsonValueKind.Number, stage.GetProperty("elapsed_ms").ValueKind);
            Assert.Equal(JsonValueKind.Number, stage.GetProperty("timeout_ms").ValueKind);
            Assert.Equal(JsonValueKind.Array, stage.GetProperty("evidence").ValueKind);
        }
        Assert.Equal(6, root.GetProperty("operations").GetArrayLength());
        Assert.Equal(JsonValueKind.Array, root.GetProperty("findings").ValueKind);
        Assert.Equal("unavailable", root.GetProperty("capture").GetProperty("status").GetString());
    }

    [Fact]
    public void CheckText_AgainstServeSoft_PrintsStagesMpaAndVerdict()
    {
        using var serve = ServePeer.Start(null);

        var (code, text, _) = Cli("check", "localhost", "--port", serve.EndPoint.Port.ToString(), "--sizes", "64", "--no-capture");
        output.WriteLine(text);

        Assert.Equal(0, code);
        Assert.Contains("rdmadiag check localhost port", text);
        Assert.Contains("localhost → ", text);
        Assert.Contains("mpa: rev 2/2 (RFC 6581), CRC off, markers: this side inserts none", text);
        Assert.Contains("large-messages  skipped", text);
        Assert.Contains("verdict: ok (exit 0)", text);
    }

    [Fact]
    public void CheckCli_RefusedPort_ExitCodeIsTheCauses()
    {
        var (code, text, _) = Cli("check", "127.0.0.1", "--port", FreePort().ToString(), "--no-capture");

        Assert.Equal(CheckCauses.TcpRefused.ExitCode, code);
        Assert.Contains("verdict: tcp-refused (exit 11)", text);
        Assert.Contains("fix: ", text);
    }

    [Theory]
    [InlineData("--port", "70000", "--port 70000 is out of range")]
    [InlineData("--port", "0", "--port 0 is out of range")]
    [InlineData("--sizes", "3m", "--sizes '3m'")]
    [InlineData("--private-data", "xyz", "--private-data 'xyz' is not hex")]
    [InlineData("--timeout-scale", "0", "--timeout-scale 0 is out of range")]
    [InlineData("--mpa-rev", "3", "--mpa-rev 3 is not supported")]
    [InlineData("--crc", "sometimes", "--crc 'sometimes' is not a CRC policy")]
    [InlineData("--ird", "20000", "--ird 20000 is out of range")]
    public void CheckCli_BadOption_OneLineAndExit2(string option, string value, string message)
    {
        var (code, text, err) = Cli("check", "127.0.0.1", option, value);

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Equal("", text);
        Assert.StartsWith($"rdmadiag: {message}", err);
        Assert.Single(err.Trim().Split('\n'));
    }

    [Fact]
    public void CheckCli_PeerToPeerWithRev1_ConflictExit2()
    {
        var (code, _, err) = Cli("check", "127.0.0.1", "--p2p", "write", "--mpa-rev", "1");

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("--p2p write conflicts with --mpa-rev 1", err);
    }

    [Fact]
    public void CheckCli_UnresolvableHost_Exit2NamingTheHost()
    {
        var (code, _, err) = Cli("check", "no-such-host.invalid", "--no-capture");

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.StartsWith("rdmadiag: HOST 'no-such-host.invalid'", err);
    }

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
