using System.Net;
using RdmaDiag.Cli;
using RdmaDiag.Latency;
using RdmaDiag.Tests.Native;
using RdmaDiag.Tests.Verbs;
using static RdmaDiag.Tests.Latency.LatencyRuns;

namespace RdmaDiag.Tests.Latency;

/// <summary>
/// The RDMA latency modes over verbs: the no-RDMA paths (exit 3 with the devices diagnosis) on a host
/// without kernel RDMA, and the three modes against the verbs responder where a device serves
/// loopback. The kernel-siw proof between two namespaces is tests/vm/scenarios/rdmadiag-latency-verbs.sh.
/// </summary>
public class VerbsLatencyTests
{
    private static string OneErrorLine((int Code, string Output, string Error) result, int code)
    {
        Assert.Equal(code, result.Code);
        var line = Assert.Single(result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("rdmadiag: ", line);
        return line;
    }

    [NoRdmaKernelFact]
    public void LatencyVerbs_WithHostButNoRdma_ExitsThreeWithTheDiagnosis()
    {
        var line = OneErrorLine(LatencyCommandTests.Run("latency", "write", "--verbs", "127.0.0.1", "-n", "10"), ExitCodes.Unavailable);

        Assert.StartsWith("rdmadiag: latency write --verbs: ", line);
        Assert.Contains("RDMA", line);
        Assert.EndsWith("measure over the userspace endpoint with --soft instead", line);
    }

    [NoRdmaKernelFact]
    public void LatencyServeVerbs_NoRdma_ExitsThreeBeforeListening()
    {
        var result = LatencyCommandTests.Run("latency", "serve", "--verbs", "--listen", "127.0.0.1");

        var line = OneErrorLine(result, ExitCodes.Unavailable);
        Assert.StartsWith("rdmadiag: latency serve --verbs: no RDMA device: ", line);
        Assert.DoesNotContain("listening on", result.Output);
    }

    [Fact]
    public void LatencyServe_SoftAndVerbs_ExitsTwo()
    {
        var line = OneErrorLine(LatencyCommandTests.Run("latency", "serve", "--soft", "--verbs"), ExitCodes.BadInput);

        Assert.Equal("rdmadiag: --soft and --verbs: give one of them, not both", line);
    }

    [Fact]
    public void LatencyServe_ListenNotAnAddress_ExitsTwoNamingIt()
    {
        var line = OneErrorLine(LatencyCommandTests.Run("latency", "serve", "--listen", "not-an-address"), ExitCodes.BadInput);

        Assert.Equal("rdmadiag: --listen 'not-an-address': expected an IP address to listen on", line);
    }

    [NoRdmaKernelFact]
    public void LatencyServicesStartVerbs_NoRdma_KeepsTheEchoResponderAndLogsWhy()
    {
        var log = new StringWriter();

        using var services = LatencyServices.StartVerbs(IPAddress.Loopback, log, tcpPort: 0, verbsPort: 0);

        Assert.Null(services.SoftEndPoint);
        Assert.NotNull(services.TcpEndPoint);
        Assert.Contains("latency: no verbs latency responder: ", log.ToString());
    }

    [VerbsLoopbackFact]
    public void SendWriteRead_OverVerbsOnLoopback_MeasureAndVerify()
    {
        var log = new StringWriter();
        using var responder = SoftLatencyResponder.StartVerbs(new IPEndPoint(IPAddress.Loopback, 0), log);
        var settings = Short(64, 4096) with { Host = "127.0.0.1", Port = responder.LocalEndPoint.Port, Transport = RdmaTransport.Verbs };

        foreach (var mode in new RdmaLatencyMode[] { new SendPingPongMode(), new WritePingPongMode(), new ReadLatencyMode() })
        {
            var report = LatencyRunner.Run(mode, settings);

            Assert.Equal([64, 4096], report.Series.Select(s => s.Size));
            Assert.All(report.Series, s => Assert.True(s.Statistics.Count == settings.Iterations && s.Statistics.Min > 0, $"{mode.Name} {s.Size}: {s.Statistics.Count} samples, min {s.Statistics.Min}"));
            Assert.Contains(report.Notes, n => n.StartsWith($"{mode.Name}: verbs through rdma_cm, ", StringComparison.Ordinal));
        }
        Assert.Equal(3, responder.AcceptedConnections);
    }
}
