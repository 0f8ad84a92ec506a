using System.Net;
using System.Text.Json;
using System.Xml.Linq;
using RdmaDiag.Cli;
using RdmaDiag.Endpoint;
using RdmaDiag.Latency;
using RdmaDiag.Tests.Netns;

namespace RdmaDiag.Tests.Latency;

/// <summary>The CLI of the RDMA modes (`latency send|write|read`) and of `compare`.</summary>
public class CompareCommandTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    private static (int Code, string Output, string Error) Run(params string[] args) => LatencyCommandTests.Run(args);

    private static string OneErrorLine((int Code, string Output, string Error) result, int code)
    {
        Assert.Equal(code, result.Code);
        var line = Assert.Single(result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("rdmadiag: ", line);
        return line;
    }

    private static List<string?> SeriesLabels(string path) =>
        XDocument.Load(path).Descendants(Svg + "g").Where(g => (string?)g.Attribute("class") == "series").Select(g => (string?)g.Attribute("data-label")).ToList();

    [Theory]
    [InlineData("send", "rtt/2")]
    [InlineData("write", "rtt/2")]
    [InlineData("read", "post→completion")]
    public void Latency_RdmaModeSoftLoopback_PrintsEveryPercentile(string mode, string metric)
    {
        var (code, output, error) = Run("latency", mode, "--soft", "--sizes", "64,4096", "-n", "200", "--warmup", "20");

        Assert.True(code == 0, error);
        Assert.Equal("", error);
        Assert.Matches($@"(?m)^{mode}\s+-\s+64\s+{metric}\s+200\s", output);
        Assert.Matches($@"(?m)^{mode}\s+-\s+4096\s+{metric}\s+200\s", output);
        Assert.Contains("userspace iWARP endpoint, MPA rev 2, CRC off", output);
    }

    [Fact]
    public void Latency_WriteJsonWithCrc_CarriesCrcAndTheVerification()
    {
        var (code, output, error) = Run("latency", "write", "--crc", "-n", "100", "--warmup", "10", "--json");

        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        Assert.True(json.RootElement.GetProperty("crc").GetBoolean());
        var notes = json.RootElement.GetProperty("notes").EnumerateArray().Select(n => n.GetString()!).ToList();
        Assert.Contains(notes, n => n.Contains("CRC on"));
        Assert.Contains("write: 110 polled octets were their exchange's tag; after each of 1 size(s) both regions held the other side's data", notes);
        Assert.Equal(100, Assert.Single(json.RootElement.GetProperty("series").EnumerateArray()).GetProperty("count").GetInt64());
    }

    [Theory]
    [InlineData("send")]
    [InlineData("write")]
    [InlineData("read")]
    public void Latency_SizeAboveTheRegionLimit_ExitsTwo(string mode)
    {
        var line = OneErrorLine(Run("latency", mode, "--size", "8388609"), ExitCodes.BadInput);

        Assert.Equal($"rdmadiag: --size 8388609: above the {mode} limit of 8388608 bytes (8 MiB)", line);
    }

    [Fact]
    public void Latency_SizeZero_ExitsTwo()
    {
        Assert.Equal("rdmadiag: --sizes 0: a message size is at least 1 byte", OneErrorLine(Run("latency", "read", "--sizes", "64,0"), ExitCodes.BadInput));
    }

    [Fact]
    public void Latency_UnreachableSoftServer_ExitsTwoInOneLine()
    {
        var port = SamplerTests.FreeTcpPort();

        var line = OneErrorLine(Run("latency", "send", "127.0.0.1", "--port", port.ToString()), ExitCodes.BadInput);

        Assert.Contains($"127.0.0.1 (127.0.0.1:{port})", line);
        Assert.Contains("rdmadiag serve --soft", line);
    }

    [Fact]
    public void Latency_Verbs_ExitsThreeSayingWhy()
    {
        var line = OneErrorLine(Run("latency", "send", "--verbs", "-n", "10"), ExitCodes.Unavailable);

        Assert.StartsWith("rdmadiag: latency send --verbs: ", line);
        Assert.Contains("--soft", line);
    }

    [Fact]
    public void Latency_SoftAndVerbsTogether_ExitsTwo()
    {
        Assert.Equal("rdmadiag: --soft and --verbs: give one of them, not both", OneErrorLine(Run("latency", "send", "--soft", "--verbs"), ExitCodes.BadInput));
    }

    [Theory]
    [InlineData("--crc")]
    [InlineData("--verbs")]
    public void Latency_RdmaOptionOnTcp_ExitsTwo(string option)
    {
        Assert.Equal($"rdmadiag: {option} applies to the RDMA modes (send, write, read), not to tcp", OneErrorLine(Run("latency", "tcp", option), ExitCodes.BadInput));
    }

    [Fact]
    public void Latency_SizeAboveTheHostResponderLimit_ExitsTwo()
    {
        using var responder = new SoftLatencyResponder(new IPEndPoint(IPAddress.Loopback, 0), maxMessage: 1024);

        var line = OneErrorLine(Run("latency", "write", "127.0.0.1", "--port", responder.LocalEndPoint.Port.ToString(), "--size", "2048"), ExitCodes.BadInput);

        Assert.Equal("rdmadiag: --size 2048: above the 1024-byte (1 KiB) memory region limit of the soft latency responder at 127.0.0.1", line);
    }

    [Fact]
    public void Latency_ResponderWritesTheWrongTag_ExitsOneInOneLine()
    {
        using var liar = new LyingWriteResponder(wrongTag: true);

        var line = OneErrorLine(Run("latency", "write", "127.0.0.1", "--port", liar.Port.ToString(), "-n", "5", "--warmup", "0"), ExitCodes.Failed);

        Assert.Equal("rdmadiag: latency write: write 64 B: in exchange 1 the polled octet became 0x03, expected the tag 0x02", line);
    }

    [Fact]
    public void Compare_SoftVsTcp_PrintsBothPathsAndRatiosAndOverlaysBothInTheSvg()
    {
        var dir = Directory.CreateTempSubdirectory("rdl-cmp-");
        try
        {
            var path = Path.Combine(dir.FullName, "cmp.svg");

            var (code, output, error) = Run("compare", "--a", "soft", "--b", "tcp", "send", "write", "--sizes", "64,4096", "-n", "200", "--warmup", "20", "--svg", path);

            Assert.True(code == 0, error);
            Assert.Contains("compare: A = soft, B = tcp; 200 iterations per size", output);
            Assert.Contains("  B: tcp ping-pong (RTT/2) stands in for send, write on this path", output);
            Assert.Matches(@"(?m)^mode\s+size\s+A p50\s+B p50\s+B/A\s+A p99\s+B p99\s+B/A\s+A p99\.9\s+B p99\.9\s+B/A", output);
            foreach (var row in new[] { "send +64", "send +4096", "write +64", "write +4096" })
            {
                Assert.Matches($@"(?m)^{row}(\s+\d+\.\d\d){{2}}\s+\d+\.\d\dx(\s+\d+\.\d\d){{2}}\s+\d+\.\d\dx(\s+\d+\.\d\d){{2}}\s+\d+\.\d\dx\s+200\s+200$", output);
            }
            Assert.Contains($"svg: {path}", output);
            Assert.Equal(["A soft send 64 B", "B tcp 64 B", "A soft send 4 KiB", "B tcp 4 KiB", "A soft write 64 B", "A soft write 4 KiB"], SeriesLabels(path));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Compare_SoftVsSoftCrcJson_HasBothSeriesAndRatiosPerRow()
    {
        var (code, output, error) = Run("compare", "--a", "soft", "--b", "soft+crc", "read", "-n", "100", "--warmup", "10", "--json");

        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.Equal("soft", root.GetProperty("a").GetProperty("spec").GetString());
        Assert.Equal("soft+crc", root.GetProperty("b").GetProperty("spec").GetString());
        Assert.Contains(root.GetProperty("a").GetProperty("notes").EnumerateArray(), n => n.GetString()!.Contains("CRC off"));
        Assert.Contains(root.GetProperty("b").GetProperty("notes").EnumerateArray(), n => n.GetString()!.Contains("CRC on"));
        Assert.Equal("b / a", root.GetProperty("ratio_definition").GetString());
        var row = Assert.Single(root.GetProperty("rows").EnumerateArray());
        Assert.Equal("read", row.GetProperty("mode").GetString());
        Assert.Equal(64, row.GetProperty("size").GetInt32());
        var a = row.GetProperty("a");
        var b = row.GetProperty("b");
        Assert.Equal(100, a.GetProperty("count").GetInt64());
        Assert.Equal(100, b.GetProperty("count").GetInt64());
        var ratio = row.GetProperty("ratio");
        Assert.Equal((double)b.GetProperty("p50_ns").GetInt64() / a.GetProperty("p50_ns").GetInt64(), ratio.GetProperty("p50").GetDouble(), 3);
        Assert.True(ratio.GetProperty("p99").GetDouble() > 0);
        Assert.True(ratio.GetProperty("p99_9").GetDouble() > 0);
    }

    [Fact]
    public void Compare_SoftHostAgainstServeServices_UsesTheGivenPorts()
    {
        using var services = LatencyServices.Start(IPAddress.Loopback, IwarpSetupOptions.Default, TextWriter.Null, tcpPort: 0, softPort: 0);

        var (code, output, error) = Run("compare", "--a", $"soft:127.0.0.1:{services.SoftEndPoint!.Port}", "--b", $"tcp:127.0.0.1:{services.TcpEndPoint!.Port}",
            "send", "-n", "50", "--warmup", "5");

        Assert.True(code == 0, error);
        Assert.Contains($"A: send: soft latency responder at 127.0.0.1 (127.0.0.1:{services.SoftEndPoint.Port})", output);
        Assert.Contains($"B: tcp: responder at 127.0.0.1 (127.0.0.1:{services.TcpEndPoint.Port})", output);
    }

    [Theory]
    [InlineData("--a", "carrier-pigeon", "--a 'carrier-pigeon': expected soft, soft:HOST, soft+crc:HOST, verbs:DEV, verbs@HOST or tcp:HOST")]
    [InlineData("--b", "tcp+crc:h", "--b 'tcp+crc:h': +crc applies to soft paths only (MPA CRCs of the userspace endpoint)")]
    [InlineData("--b", "soft:h:99999", "--b 'soft:h:99999': port '99999': expected 1 to 65535")]
    [InlineData("--b", "soft@h", "--b 'soft@h': @HOST belongs to verbs paths; a soft path takes :HOST")]
    [InlineData("--b", "verbs@h:0", "--b 'verbs@h:0': port '0': expected 1 to 65535")]
    public void Compare_BadSpec_ExitsTwo(string option, string spec, string expected)
    {
        var args = option == "--a" ? new[] { "compare", "--a", spec, "--b", "soft" } : ["compare", "--a", "soft", "--b", spec];

        Assert.Equal($"rdmadiag: {expected}", OneErrorLine(Run(args), ExitCodes.BadInput));
    }

    [Fact]
    public void Compare_ModeThatIsNotRdma_ExitsTwo()
    {
        var line = OneErrorLine(Run("compare", "--a", "soft", "--b", "tcp", "rx-stamp"), ExitCodes.BadInput);

        Assert.StartsWith("rdmadiag: MODE 'rx-stamp': compare runs send, write, read on both paths", line);
    }

    [Fact]
    public void Compare_SizeZero_ExitsTwo()
    {
        Assert.Equal("rdmadiag: --size 0: a message size is at least 1 byte", OneErrorLine(Run("compare", "--a", "soft", "--b", "tcp", "--size", "0"), ExitCodes.BadInput));
    }

    [Fact]
    public void Compare_UnreachableB_ExitsTwo()
    {
        var port = SamplerTests.FreeTcpPort();

        var line = OneErrorLine(Run("compare", "--a", "soft", "--b", $"soft:127.0.0.1:{port}", "send", "-n", "20", "--warmup", "0"), ExitCodes.BadInput);

        Assert.Contains($"127.0.0.1:{port}", line);
    }

    [Fact]
    public void Compare_VerbsPath_ExitsThreeBeforeMeasuring()
    {
        var line = OneErrorLine(Run("compare", "--a", "soft", "--b", "verbs:mlx5_0"), ExitCodes.Unavailable);

        Assert.StartsWith("rdmadiag: compare verbs:mlx5_0: ", line);
    }

    [Fact]
    public void Compare_MissingB_ExitsTwo()
    {
        var (code, _, error) = Run("compare", "--a", "soft");

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Equal("rdmadiag compare: Option '--b' is required. (see --help)", error.Trim());
    }

    [Theory]
    [InlineData("soft", LatencyPathKind.Soft, null, 0, false, null)]
    [InlineData("soft+crc:10.0.0.2", LatencyPathKind.Soft, "10.0.0.2", 0, true, null)]
    [InlineData("SOFT:host.example:7000", LatencyPathKind.Soft, "host.example", 7000, false, null)]
    [InlineData("tcp:[fd00::2]:18515", LatencyPathKind.Tcp, "fd00::2", 18515, false, null)]
    [InlineData("tcp:fd00::2", LatencyPathKind.Tcp, "fd00::2", 0, false, null)]
    [InlineData("verbs:rxe0", LatencyPathKind.Verbs, null, 0, false, "rxe0")]
    [InlineData("verbs", LatencyPathKind.Verbs, null, 0, false, null)]
    [InlineData("verbs@10.9.8.1", LatencyPathKind.Verbs, "10.9.8.1", 0, false, null)]
    [InlineData("verbs:siwB@10.9.8.1:18600", LatencyPathKind.Verbs, "10.9.8.1", 18600, false, "siwB")]
    public void LatencyPath_Parse_SplitsKindHostPortAndCrc(string spec, LatencyPathKind kind, string? host, int port, bool crc, string? device)
    {
        var path = LatencyPath.Parse("--a", spec);

        Assert.Equal((kind, host, port, crc, device), (path.Kind, path.Host, path.Port, path.Crc, path.Device));
    }

    [NetLabFact]
    [Trait("Tier", "netns")]
    public void Compare_AcrossNamespaces_SoftVsTcpOverVeth()
    {
        using var lab = NetLab.Create(router: false);
        using var services = lab.Server.Run(() => LatencyServices.Start(lab.Server.Address, IwarpSetupOptions.Default, TextWriter.Null));

        var (code, output, error) = lab.Client.Run(() =>
            Run("compare", "--a", $"soft:{lab.Server.Address}", "--b", $"tcp:{lab.Server.Address}", "--sizes", "64,4096", "-n", "200", "--warmup", "20", "--json"));

        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        var rows = json.RootElement.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(6, rows.Count);
        Assert.All(rows, r => Assert.Equal(200, r.GetProperty("a").GetProperty("count").GetInt64()));
        Assert.Contains(json.RootElement.GetProperty("a").GetProperty("notes").EnumerateArray(), n => n.GetString()!.Contains($"{lab.Server.Address}:{SoftLatencyProtocol.DefaultPort}"));
    }

    [NetLabFact]
    [Trait("Tier", "netns")]
    public void Latency_WriteCliAcrossNamespaces_ExitsZero()
    {
        using var lab = NetLab.Create(router: false);
        using var responder = lab.Server.Run(() => new SoftLatencyResponder(new IPEndPoint(lab.Server.Address, 0)));

        var (code, output, error) = lab.Client.Run(() =>
            Run("latency", "write", lab.Server.Address.ToString(), "--port", responder.LocalEndPoint.Port.ToString(), "--sizes", "64,4096", "-n", "200", "--warmup", "20"));

        Assert.True(code == 0, error);
        Assert.Contains("write: 440 polled octets were their exchange's tag", output);
    }
}
