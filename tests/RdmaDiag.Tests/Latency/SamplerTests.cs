using System.Net;
using System.Net.Sockets;
using RdmaDiag.Latency;
using RdmaDiag.Tests.Netns;
using static RdmaDiag.Tests.Latency.LatencyRuns;

namespace RdmaDiag.Tests.Latency;

public class SamplerTests
{
    [Fact]
    public void TcpMode_LoopbackInProcessResponder_MeasuresEveryIterationPerSize()
    {
        var report = LatencyRunner.Run(new TcpPingPongMode(), Short(64, 4096));

        Assert.Equal(2, report.Series.Count);
        Assert.All(report.Series, s =>
        {
            Assert.Equal("tcp", s.Mode);
            Assert.Equal("rtt/2", s.Metric);
            Assert.Equal(300, s.Statistics.Count);
            Assert.InRange(s.Statistics.Min, 1, 100_000_000);
            Assert.True(s.Statistics.Min <= s.Statistics.P50 && s.Statistics.P50 <= s.Statistics.P99 && s.Statistics.P99 <= s.Statistics.Max);
        });
        Assert.Equal([64, 4096], report.Series.Select(s => s.Size));
        Assert.True(report.Overhead.TimerNs >= 0);
    }

    [Fact]
    public void TcpMode_BusyPoll_MeasuresOnLoopback()
    {
        var report = LatencyRunner.Run(new TcpPingPongMode(), Short(64) with { BusyPoll = true, Iterations = 200 });

        Assert.Equal(200, Assert.Single(report.Series).Statistics.Count);
    }

    [Fact]
    public void TcpMode_MessageLargerThanSocketBuffers_DoesNotStall()
    {
        var report = LatencyRunner.Run(new TcpPingPongMode(), Short(4 << 20) with { Iterations = 3, Warmup = 1 });

        Assert.Equal(3, Assert.Single(report.Series).Statistics.Count);
    }

    [Fact]
    public void TcpMode_ExternalResponder_ConnectsByHostAndPort()
    {
        using var responder = new LatencyResponder(new IPEndPoint(IPAddress.Loopback, 0));

        var report = LatencyRunner.Run(new TcpPingPongMode(), Short(128) with { Host = "127.0.0.1", Port = responder.LocalEndPoint.Port });

        Assert.Equal(300, Assert.Single(report.Series).Statistics.Count);
        Assert.Equal(1, responder.AcceptedConnections);
    }

    [Fact]
    public void TcpMode_NothingListening_IsUserInputError()
    {
        var port = FreeTcpPort();

        var e = Assert.Throws<UserInputException>(() => LatencyRunner.Run(new TcpPingPongMode(), Short(64) with { Host = "127.0.0.1", Port = port }));

        Assert.Contains($"127.0.0.1:{port}", e.Message);
        Assert.Contains("serve", e.Message);
    }

    [Fact]
    public async Task TcpMode_PeerThatIsNotAResponder_IsUserInputError()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var server = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync();
            await client.GetStream().WriteAsync("SSH-2.0-OpenSSH_9.2\r\n"u8.ToArray());
            await Task.Delay(500);
        });

        var e = Assert.Throws<UserInputException>(() =>
            LatencyRunner.Run(new TcpPingPongMode(), Short(64) with { Host = "127.0.0.1", Port = ((IPEndPoint)listener.LocalEndpoint).Port }));

        Assert.Contains("not an rdmadiag responder", e.Message);
        await server;
    }

    [Fact]
    public void RxStamp_Loopback_GivesPositiveSoftwareLatenciesBelowTenMilliseconds()
    {
        var report = LatencyRunner.Run(new RxStampMode(), Short(64, 4096));

        Assert.Equal(["udp sw", "tcp sw", "udp sw", "tcp sw"], report.Series.Select(s => s.Variant));
        Assert.All(report.Series, s =>
        {
            Assert.Equal("kernel→user", s.Metric);
            Assert.True(s.Statistics.Count >= 290, $"{s.Label}: {s.Statistics.Count} samples");
            Assert.InRange(s.Statistics.Min, 1, 10_000_000);
            Assert.InRange(s.Statistics.P50, 1, 10_000_000);
        });
        Assert.Contains(report.Notes, n => n.StartsWith("lo: software RX timestamps only"));
    }

    [Fact]
    public void RxStamp_UdpBusyPoll_GivesSamples()
    {
        var report = LatencyRunner.Run(new RxStampMode(), Short(64) with { BusyPoll = true, Transports = RxStampTransports.Udp, Iterations = 200 });

        var series = Assert.Single(report.Series);
        Assert.Equal("udp sw", series.Variant);
        Assert.InRange(series.Statistics.P50, 1, 10_000_000);
    }

    [Fact]
    public void RxStamp_HardwareOnLoopback_IsUserInputErrorSayingSoftwareOnly()
    {
        var e = Assert.Throws<UserInputException>(() =>
            LatencyRunner.Run(new RxStampMode(), Short(64) with { Timestamps = TimestampSource.Hardware }));

        Assert.Contains("--timestamps hw", e.Message);
        Assert.Contains("software RX timestamps only", e.Message);
    }

    [Fact]
    public void KernelTimestamping_Loopback_ReportsSoftwareOnly()
    {
        var lo = KernelTimestamping.Query("lo");

        Assert.Null(lo.QueryError);
        Assert.True(lo.SoftwareRx);
        Assert.False(lo.HardwareRx);
        Assert.Equal(-1, lo.PhcIndex);
    }

    [Fact]
    public void KernelTimestamping_UnknownInterface_ReportsTheIoctlError()
    {
        var none = KernelTimestamping.Query("rdlnosuchif0");

        Assert.NotNull(none.QueryError);
        Assert.Contains("ETHTOOL_GET_TS_INFO failed", none.Describe());
    }

    [Fact]
    public void KernelTimestamping_Enable_IsReadBackThroughGetsockopt()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);

        KernelTimestamping.Enable(socket);

        Assert.Equal(KernelTimestamping.RxFlags, KernelTimestamping.Enabled(socket));
    }

    [Fact]
    public void CpuAffinity_PinToAnAllowedCpu_RunsThere()
    {
        var cpu = CpuAffinity.AllowedCpus()[^1];
        var ranOn = -1;
        var thread = new Thread(() =>
        {
            CpuAffinity.PinCurrentThread(cpu);
            Thread.Yield();
            ranOn = CpuAffinity.CurrentCpu();
        });
        thread.Start();
        thread.Join();

        Assert.Equal(cpu, ranOn);
    }

    [Fact]
    public void CpuAffinity_CpuOutsideTheAllowedSet_IsUserInputError()
    {
        var e = Assert.Throws<UserInputException>(() => LatencyRunner.Run(new TcpPingPongMode(), Short(64) with { Cpu = 1000 }));

        Assert.StartsWith("--cpu 1000:", e.Message);
    }

    [NetLabFact]
    [Trait("Tier", "netns")]
    public void TcpMode_AcrossNamespaces_MeasuresOverVeth()
    {
        using var lab = NetLab.Create(router: false);
        using var responder = lab.Server.Run(() => new LatencyResponder(new IPEndPoint(lab.Server.Address, 0)));

        var report = lab.Client.Run(() =>
            LatencyRunner.Run(new TcpPingPongMode(), Short(64, 4096) with { Host = lab.Server.Address.ToString(), Port = responder.LocalEndPoint.Port }));

        Assert.Equal(2, report.Series.Count);
        Assert.All(report.Series, s => Assert.Equal(300, s.Statistics.Count));
        Assert.Contains(report.Notes, n => n.Contains(lab.Server.Address.ToString()));
    }

    [NetLabFact]
    [Trait("Tier", "netns")]
    public void RxStamp_AcrossNamespaces_StampsEchoesArrivingOverVeth()
    {
        using var lab = NetLab.Create(router: false);
        using var responder = lab.Server.Run(() => new LatencyResponder(new IPEndPoint(lab.Server.Address, 0)));

        var report = lab.Client.Run(() =>
            LatencyRunner.Run(new RxStampMode(), Short(64) with { Host = lab.Server.Address.ToString(), Port = responder.LocalEndPoint.Port }));

        Assert.Equal(["udp sw", "tcp sw"], report.Series.Select(s => s.Variant));
        Assert.All(report.Series, s => Assert.InRange(s.Statistics.P50, 1, 10_000_000));
        Assert.Contains(report.Notes, n => n.StartsWith("eth0:") && n.Contains("software RX timestamps only"));
    }

    internal static int FreeTcpPort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }
}
