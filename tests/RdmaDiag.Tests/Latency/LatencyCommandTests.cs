using System.Text.Json;
using System.Xml.Linq;
using RdmaDiag.Cli;
using RdmaDiag.Cli.Output;
using RdmaDiag.Latency;
using RdmaDiag.Tests.Netns;

namespace RdmaDiag.Tests.Latency;

public class LatencyCommandTests
{
    internal static (int Code, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = CliRoot.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    private static void AssertBadInput((int Code, string Output, string Error) result, string expected)
    {
        Assert.Equal(ExitCodes.BadInput, result.Code);
        var line = Assert.Single(result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("rdmadiag: ", line);
        Assert.Contains(expected, line);
    }

    [Fact]
    public void Latency_TcpLoopback_PrintsOverheadAndAllPercentiles()
    {
        var (code, output, error) = Run("latency", "tcp", "--sizes", "64,4096", "--iterations", "200", "--warmup", "20");

        Assert.True(code == 0, error);
        Assert.Equal("", error);
        Assert.Contains("overhead: Stopwatch read", output);
        Assert.Contains("p99.99", output);
        Assert.Matches(@"(?m)^tcp\s+-\s+64\s+rtt/2\s+200\s", output);
        Assert.Matches(@"(?m)^tcp\s+-\s+4096\s+rtt/2\s+200\s", output);
    }

    [Fact]
    public void Latency_RxStampJson_IsParsableWithNanosecondFields()
    {
        var (code, output, error) = Run("latency", "rx-stamp", "--transport", "udp", "--iterations", "200", "--warmup", "20", "--json");

        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.Equal("rx-stamp", root.GetProperty("mode").GetString());
        Assert.Equal("nearest-rank", root.GetProperty("percentile_definition").GetString());
        Assert.True(root.GetProperty("overhead").GetProperty("timer_ns").GetDouble() >= 0);
        var series = Assert.Single(root.GetProperty("series").EnumerateArray());
        Assert.Equal("udp sw", series.GetProperty("variant").GetString());
        // A datagram may be lost or unstamped on a loaded host; it is counted, never silently skipped.
        Assert.Equal(200, series.GetProperty("count").GetInt64() + series.GetProperty("dropped").GetInt64());
        Assert.InRange(series.GetProperty("count").GetInt64(), 190, 200);
        Assert.InRange(series.GetProperty("p50_ns").GetInt64(), 1, 10_000_000);
        Assert.True(series.GetProperty("p99_99_ns").GetInt64() >= series.GetProperty("p99_9_ns").GetInt64());
    }

    [Fact]
    public void Latency_Svg_WritesWellFormedFileWithEverySeriesAndNoTempLeft()
    {
        var dir = Directory.CreateTempSubdirectory("rdl-svg-");
        try
        {
            var path = Path.Combine(dir.FullName, "lat.svg");
            var (code, output, error) = Run("latency", "rx-stamp", "--sizes", "64,4096", "--iterations", "200", "--warmup", "20", "--svg", path);

            Assert.True(code == 0, error);
            Assert.Contains($"svg: {path}", output);
            Assert.False(File.Exists(path + ".tmp"));
            var svg = XDocument.Load(path);
            XNamespace ns = "http://www.w3.org/2000/svg";
            var labels = svg.Descendants(ns + "g").Where(g => (string?)g.Attribute("class") == "series").Select(g => (string?)g.Attribute("data-label")).ToList();
            Assert.Equal(["rx-stamp udp sw 64 B", "rx-stamp tcp sw 64 B", "rx-stamp udp sw 4 KiB", "rx-stamp tcp sw 4 KiB"], labels);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Latency_SizeZero_ExitsTwoNamingTheOption()
    {
        AssertBadInput(Run("latency", "tcp", "--size", "0"), "--size 0: a message size is at least 1 byte");
    }

    [Fact]
    public void Latency_SizeAboveTheModeLimit_ExitsTwoWithTheLimit()
    {
        AssertBadInput(Run("latency", "tcp", "--size", "9000000"), "above the tcp limit of 8388608 bytes");
        AssertBadInput(Run("latency", "rx-stamp", "--sizes", "64,70000"), "--sizes 70000: above the rx-stamp limit of 65507 bytes");
    }

    [Fact]
    public void Latency_NotANumber_ExitsTwo()
    {
        AssertBadInput(Run("latency", "tcp", "--iterations", "many"), "--iterations 'many': expected a whole number");
        AssertBadInput(Run("latency", "tcp", "--duration", "-3"), "--duration -3");
    }

    [Fact]
    public void Latency_UnknownMode_ExitsTwoListingModes()
    {
        AssertBadInput(Run("latency", "carrier-pigeon"), "expected one of send, write, read, tcp, rx-stamp");
    }

    [Fact]
    public void Latency_UnreachableServer_ExitsTwo()
    {
        var port = SamplerTests.FreeTcpPort();

        AssertBadInput(Run("latency", "tcp", "127.0.0.1", "--port", port.ToString()), $"127.0.0.1:{port}");
    }

    [Fact]
    public void Latency_UnresolvableHost_ExitsTwo()
    {
        AssertBadInput(Run("latency", "tcp", "no-such-host.invalid"), "HOST 'no-such-host.invalid': cannot resolve");
    }

    [Fact]
    public void Latency_HardwareTimestampsOnLoopback_ExitsTwoSayingSoftwareOnly()
    {
        AssertBadInput(Run("latency", "rx-stamp", "--timestamps", "hw", "--iterations", "10"), "software RX timestamps only");
    }

    [Fact]
    public void Latency_UnwritableSvgPath_ExitsTwoBeforeMeasuring()
    {
        AssertBadInput(Run("latency", "tcp", "--svg", "/nonexistent-dir/lat.svg"), "--svg /nonexistent-dir/lat.svg: cannot write");
    }

    [Fact]
    public void Latency_SizeAndSweepTogether_ExitsTwo()
    {
        AssertBadInput(Run("latency", "tcp", "--size", "64", "--sweep"), "give one of them");
    }

    [Fact]
    public void ParseSizes_Sweep_IsPowersOfTwoUpToTheModeLimit()
    {
        var settings = new LatencyRunSettings();

        Assert.Equal(Enumerable.Range(1, 23).Select(i => 1 << i), LatencyOptionParser.ParseSizes(null, null, true, new TcpPingPongMode(), settings));
        Assert.Equal(32768, LatencyOptionParser.ParseSizes(null, null, true, new RxStampMode(), settings)[^1]);
    }

    [NetLabFact]
    [Trait("Tier", "netns")]
    public void Latency_TcpCliAcrossNamespaces_ExitsZero()
    {
        using var lab = NetLab.Create(router: false);
        using var responder = lab.Server.Run(() => new LatencyResponder(new System.Net.IPEndPoint(lab.Server.Address, 0)));

        var (code, output, error) = lab.Client.Run(() =>
            Run("latency", "tcp", lab.Server.Address.ToString(), "--port", responder.LocalEndPoint.Port.ToString(), "--iterations", "200", "--warmup", "20"));

        Assert.True(code == 0, error);
        Assert.Contains($"responder at {lab.Server.Address}", output);
    }

    [Fact]
    public void Svg_SeveralSeries_IsWellFormedWithAPathPolylineAndLegendEntryEach()
    {
        var series = new List<LatencySeries>();
        var random = new Random(5);
        foreach (var (name, scale) in new[] { ("tcp", 10_000.0), ("send", 3_000.0), ("write", 2_000.0) })
        {
            var recorder = new LatencyRecorder();
            for (var i = 0; i < 5000; i++)
            {
                recorder.Record((long)(scale * (1 - Math.Log(1 - random.NextDouble()) * 0.2)));
            }
            series.Add(new LatencySeries(name, "", 64, "rtt/2", recorder));
        }
        series.Add(new LatencySeries("read", "", 64, "rtt/2", new LatencyRecorder()));
        using var stream = new MemoryStream();

        LatencySvg.Write(stream, "t <&> \"title\"", "sub", series);

        stream.Position = 0;
        var svg = XDocument.Load(stream);
        XNamespace ns = "http://www.w3.org/2000/svg";
        Assert.Equal("svg", svg.Root!.Name.LocalName);
        Assert.Equal("t <&> \"title\"", svg.Root.Element(ns + "title")!.Value);
        var groups = svg.Descendants(ns + "g").Where(g => (string?)g.Attribute("class") == "series").ToList();
        Assert.Equal(["tcp 64 B", "send 64 B", "write 64 B"], groups.Select(g => (string?)g.Attribute("data-label")));
        Assert.All(groups, g =>
        {
            Assert.Single(g.Elements(ns + "path"), p => (string?)p.Attribute("class") == "histogram");
            var cdf = Assert.Single(g.Elements(ns + "polyline"));
            Assert.True(cdf.Attribute("points")!.Value.Split(' ').Length > 10);
        });
        var legend = svg.Descendants(ns + "g").Where(g => (string?)g.Attribute("class") == "legend-entry").Select(g => (string?)g.Attribute("data-label")).ToList();
        Assert.Equal(["tcp 64 B", "send 64 B", "write 64 B", "read 64 B"], legend);
        Assert.Contains(svg.Descendants(ns + "text"), t => t.Value == "latency (µs, log scale)");
        Assert.Contains(svg.Descendants(ns + "text"), t => t.Value == "cumulative share (%)");
    }
}
