using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using RdmaDiag.Capture.Iwarp;
using RdmaDiag.Cli;
using RdmaDiag.Diagnostics.Bundle;
using RdmaDiag.Diagnostics.Check;
using RdmaDiag.Diagnostics.Findings;
using RdmaDiag.Endpoint;
using RdmaDiag.Latency;
using RdmaDiag.Tests.Capture;
using RdmaDiag.Tests.CheckVerb;
using RdmaDiag.Tests.Decode;

namespace RdmaDiag.Tests.Bundle;

/// <summary>`rdmadiag bundle` end to end on loopback, against an in-process serve --soft and its latency responders.</summary>
public sealed class BundleTests : IDisposable
{
    private static readonly string[] EnvironmentFiles =
    [
        "devices.json", "devices.txt", "rdmadiag-version.txt", "uname.txt", "os-release.txt", "kernel-cmdline.txt", "ip-addr.txt", "ip-route.txt",
        "ip6-route.txt", "ip-neigh.txt", "ip-route-get.txt", "ss.txt", "sysctl.txt", "nft-ruleset.txt", "iptables-save.txt", "rdma-modules.txt",
        "rdma-link.txt", "rdma-dev.txt", "iwpmd.txt", "ethtool-i.txt", "ethtool-k.txt", "commands.txt",
    ];

    private readonly string _dir = Directory.CreateTempSubdirectory("rdmadiag-bundle-test-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Bundle_AgainstServeSoftOnLoopback_HoldsEveryEntryWithAValidManifest()
    {
        using var serve = ServePeer.Start(null);
        using var latency = LatencyServices.Start(IPAddress.Loopback, IwarpSetupOptions.Default, TextWriter.Null, tcpPort: 0, softPort: 0);
        string path = Path.Combine(_dir, "ok.tar.gz");

        var (code, output, error) = Cli("bundle", "127.0.0.1", "--port", $"{serve.EndPoint.Port}", "-o", path, "-n", "20",
            "--latency-tcp-port", $"{latency.TcpEndPoint!.Port}", "--latency-soft-port", $"{latency.SoftEndPoint!.Port}");

        Assert.True(code == ExitCodes.Ok, output + error);
        Assert.Contains($"bundle: {path}", output);
        var files = Extract(path);
        Assert.Equal([BundleArchive.SummaryName, BundleArchive.ManifestName], files.Keys.Take(2));
        foreach (string name in new[] { "check/check.txt", "check/check.json" }
                     .Concat(new[] { "tcp", "send", "write", "read" }.SelectMany(m => new[] { $"latency/{m}.json", $"latency/{m}.svg" }))
                     .Concat(EnvironmentFiles.Select(f => EnvironmentCollector.Folder + f)))
        {
            Assert.True(files.ContainsKey(name), $"{name} missing; the bundle has {string.Join(", ", files.Keys)}");
        }
        AssertManifestMatches(files);
        string summary = Text(files, BundleArchive.SummaryName);
        Assert.Contains("verdict:  ok (exit 0)", summary);
        Assert.Contains("mpa:      rev 2/2", summary);
        Assert.Matches(@"send\s+4 KiB\s+[\d.]+\s+[\d.]+\s+20", summary);
        Assert.Contains("\"mode\": \"write\"", Text(files, "latency/write.json"));
        Assert.StartsWith("<?xml", Text(files, "latency/read.svg"));
        Assert.Contains("<svg", Text(files, "latency/read.svg"));
        Assert.Contains("\"cause\"", Text(files, "check/check.json"));
        Assert.Contains($"dport = :{serve.EndPoint.Port}", Text(files, EnvironmentCollector.Folder + "commands.txt"));
        Assert.False(File.Exists(path + ".tmp"));
    }

    [RootFact]
    public void Bundle_AsRoot_CapturesTheCheckFlowAsADecodablePcapng()
    {
        using var serve = ServePeer.Start(null);
        string path = Path.Combine(_dir, "capture.tar.gz");

        var (code, output, error) = Cli("bundle", "127.0.0.1", "--port", $"{serve.EndPoint.Port}", "-o", path, "--no-latency", "--sizes", "64,64k");

        Assert.True(code == ExitCodes.Ok, output + error);
        var files = Extract(path);
        string pcap = Path.Combine(_dir, "check.pcapng");
        File.WriteAllBytes(pcap, files[BundleBuilder.CapturePath]);
        var findings = new FindingList();
        DecodeSummary decoded = new IwarpCaptureDecoder(findings).DecodeFile(pcap);
        Assert.Equal(1, decoded.IwarpFlows);
        Assert.Equal(VerdictStatus.Ok, decoded.Verdict.Status);
        Assert.Contains("iWARP", Text(files, BundleBuilder.CapturePath + ".decode.txt"));
        Assert.Contains($"{BundleBuilder.CapturePath}: ", Text(files, BundleArchive.SummaryName));
        Assert.DoesNotContain($"{BundleBuilder.CapturePath}: ", Text(files, BundleArchive.SummaryName).Split("not collected")[1]);
    }

    [Fact]
    public void Bundle_ClosedPort_TcpRefusedExitCodeAndStillTheEnvironment()
    {
        string path = Path.Combine(_dir, "refused.tar.gz");

        var (code, output, error) = Cli("bundle", "127.0.0.1", "--port", $"{FreePort()}", "-o", path);

        Assert.True(code == CheckCauses.TcpRefused.ExitCode, output + error);
        var files = Extract(path);
        foreach (string name in EnvironmentFiles)
        {
            Assert.True(files.ContainsKey(EnvironmentCollector.Folder + name), $"{name} missing");
        }
        Assert.DoesNotContain(files.Keys, n => n.StartsWith(BundleLatencyFolder, StringComparison.Ordinal));
        string summary = Text(files, BundleArchive.SummaryName);
        Assert.Contains("verdict:  tcp-refused (exit 11)", summary);
        Assert.Contains("not run: the check's verdict is tcp-refused", summary);
        Assert.Contains("fix:      Start the iWARP listener", summary);
        AssertManifestMatches(files);
    }

    [Fact]
    public void Bundle_Redact_HidesLoopbackAddressesInEveryTextFile()
    {
        string path = Path.Combine(_dir, "redacted.tar.gz");

        var (code, output, error) = Cli("bundle", "127.0.0.1", "--port", $"{FreePort()}", "-o", path, "--redact", "--no-capture");

        Assert.True(code == CheckCauses.TcpRefused.ExitCode, output + error);
        var files = Extract(path);
        foreach (var (name, bytes) in files.Where(f => !f.Key.EndsWith(".pcapng", StringComparison.Ordinal)))
        {
            string text = Encoding.UTF8.GetString(bytes);
            Assert.DoesNotContain("127.0.0.1", text);
            Assert.DoesNotContain("::1", text);
        }
        Assert.Contains("ipv4-1", Text(files, "check/check.txt"));
        Assert.Contains("ipv4-1", Text(files, EnvironmentCollector.Folder + "ip-route-get.txt"));
        Assert.Contains("pcapng captures are NOT redacted", Text(files, BundleArchive.SummaryName));
        AssertManifestMatches(files);
    }

    [Fact]
    public void Bundle_ExtraPcap_CopiedUnchangedAndDecoded()
    {
        string source = Path.Combine(DecodeTestKit.CapturesDirectory, "endpoint-loopback.pcapng");
        string path = Path.Combine(_dir, "extra.tar.gz");

        var (code, output, error) = Cli("bundle", "127.0.0.1", "--port", $"{FreePort()}", "-o", path, "--no-capture", "--pcap", source, source);

        Assert.True(code == CheckCauses.TcpRefused.ExitCode, output + error);
        var files = Extract(path);
        Assert.Equal(File.ReadAllBytes(source), files["pcaps/endpoint-loopback.pcapng"]);
        Assert.Equal(File.ReadAllBytes(source), files["pcaps/endpoint-loopback-2.pcapng"]);
        Assert.Contains("iWARP", Text(files, "pcaps/endpoint-loopback.pcapng.decode.txt"));
        Assert.Contains("\"flows\"", Text(files, "pcaps/endpoint-loopback.pcapng.decode.json"));
        Assert.Contains("pcaps/endpoint-loopback.pcapng: ", Text(files, BundleArchive.SummaryName));
    }

    [Theory]
    [InlineData("no.such.host.invalid", "", "HOST 'no.such.host.invalid' does not resolve")]
    [InlineData("127.0.0.1", "--port 70000", "--port 70000 is out of range")]
    [InlineData("127.0.0.1", "--pcap /nonexistent/x.pcapng", "--pcap '/nonexistent/x.pcapng': no such file")]
    [InlineData("127.0.0.1", "-o /nonexistent/dir/b.tar.gz", "-o '/nonexistent/dir/b.tar.gz': cannot write the archive")]
    [InlineData("127.0.0.1", "--iterations 5 --duration 1", "--iterations and --duration")]
    [InlineData("127.0.0.1", "--sizes 2m", "--sizes '2m'")]
    public void Bundle_BadInput_OneLineExit2AndNoFile(string host, string extra, string expected)
    {
        string path = Path.Combine(_dir, "bad.tar.gz");
        string[] given = extra.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        string[] args = given.Contains("-o") ? ["bundle", host, .. given] : ["bundle", host, "-o", path, .. given];

        var (code, _, error) = Cli(args);

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.DoesNotContain('\n', error.TrimEnd());
        Assert.Contains(expected, error);
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }

    [Fact]
    public void Run_CancelledWhileRunning_LeavesNoArchiveAndNoTmp()
    {
        string path = Path.Combine(_dir, "cancelled.tar.gz");
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        var options = new BundleOptions
        {
            Check = new CheckOptions { Host = "127.0.0.1", Port = FreePort(), Capture = false },
            OutputPath = path,
        };

        Assert.ThrowsAny<OperationCanceledException>(() => BundleBuilder.Run(options, TextWriter.Null, cancel.Token));

        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }

    [Fact]
    public void DefaultFileName_HostAndLocalTime_IsSafeAndSortable()
    {
        Assert.Equal("rdmadiag-bundle-fe80__1-20260102-030405.tar.gz", BundleOptions.DefaultFileName("fe80::1", new DateTime(2026, 1, 2, 3, 4, 5)));
        Assert.Equal("rdmadiag-bundle-server.lab-20261231-235959.tar.gz", BundleOptions.DefaultFileName("server.lab", new DateTime(2026, 12, 31, 23, 59, 59)));
    }

    private const string BundleLatencyFolder = "latency/";

    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliRoot.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Every entry of the archive, in archive order, with its content.</summary>
    private static Dictionary<string, byte[]> Extract(string path)
    {
        var files = new Dictionary<string, byte[]>();
        using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var tar = new TarReader(gzip);
        while (tar.GetNextEntry() is { } entry)
        {
            using var content = new MemoryStream();
            entry.DataStream?.CopyTo(content);
            files.Add(entry.Name, content.ToArray());
        }
        return files;
    }

    private static string Text(Dictionary<string, byte[]> files, string name) => Encoding.UTF8.GetString(files[name]);

    private static void AssertManifestMatches(Dictionary<string, byte[]> files)
    {
        using var manifest = JsonDocument.Parse(files[BundleArchive.ManifestName]);
        var listed = manifest.RootElement.GetProperty("files").EnumerateArray().ToList();
        Assert.Equal(files.Keys.Where(n => n != BundleArchive.ManifestName).Order(), listed.Select(f => f.GetProperty("name").GetString()!).Order());
        foreach (var file in listed)
        {
            byte[] content = files[file.GetProperty("name").GetString()!];
            Assert.Equal(content.Length, file.GetProperty("size").GetInt64());
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(content)), file.GetProperty("sha256").GetString());
            Assert.False(string.IsNullOrWhiteSpace(file.GetProperty("producer").GetString()));
        }
    }

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
