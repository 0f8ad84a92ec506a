using System.Diagnostics;
using System.Net;
using RdmaDiag.Endpoint;
using RdmaDiag.Latency;
using RdmaDiag.Tests.Netns;
using static RdmaDiag.Tests.Latency.LatencyRuns;

namespace RdmaDiag.Tests.Latency;

public class SoftModeTests
{
    private static void AssertSeries(LatencyReport report, string mode, string metric, int count, params int[] sizes)
    {
        Assert.Equal(sizes, report.Series.Select(s => s.Size));
        Assert.All(report.Series, s =>
        {
            Assert.Equal(mode, s.Mode);
            Assert.Equal(metric, s.Metric);
            Assert.Equal(count, s.Statistics.Count);
            Assert.InRange(s.Statistics.Min, 1, 100_000_000);
            Assert.True(s.Statistics.Min <= s.Statistics.P50 && s.Statistics.P50 <= s.Statistics.P99 && s.Statistics.P99 <= s.Statistics.Max);
        });
    }

    [Fact]
    public void SendMode_Loopback_EchoesEveryIterationAndVerifiesThem()
    {
        var report = LatencyRunner.Run(new SendPingPongMode(), Short(64, 4096));

        AssertSeries(report, "send", "rtt/2", 300, 64, 4096);
        Assert.Contains(report.Notes, n => n.Contains("in-process soft latency responder on 127.0.0.1"));
        Assert.Contains(report.Notes, n => n.Contains("CRC off"));
        Assert.Contains("send: 660 echoes carried their own sequence number; the last echo of each size matched what was sent", report.Notes);
    }

    [Fact]
    public void WriteMode_Loopback_EveryPolledOctetIsItsExchangesTag()
    {
        var report = LatencyRunner.Run(new WritePingPongMode(), Short(64, 4096));

        AssertSeries(report, "write", "rtt/2", 300, 64, 4096);
        Assert.Contains("write: 660 polled octets were their exchange's tag; after each of 2 size(s) both regions held the other side's data", report.Notes);
    }

    [Fact]
    public void ReadMode_Loopback_FirstAndLastReadMatchTheResponderPattern()
    {
        var report = LatencyRunner.Run(new ReadLatencyMode(), Short(64, 4096));

        AssertSeries(report, "read", "post→completion", 300, 64, 4096);
        Assert.Contains("read: 4 Reads (the first and last of each size) matched the responder's pattern octet for octet", report.Notes);
    }

    [Theory]
    [InlineData("send")]
    [InlineData("write")]
    [InlineData("read")]
    public void RdmaModes_BusyPollWithCrc_MeasureWithCrcNegotiated(string name)
    {
        var mode = LatencyModeCatalog.Find(name)!;

        var report = LatencyRunner.Run(mode, Short(256) with { BusyPoll = true, Crc = true, Iterations = 100, Warmup = 10 });

        Assert.Equal(100, Assert.Single(report.Series).Statistics.Count);
        Assert.Contains(report.Notes, n => n.Contains("CRC on"));
    }

    [Theory]
    [InlineData("send")]
    [InlineData("write")]
    [InlineData("read")]
    public void RdmaModes_MessageOfManyFpdus_IsPlacedAndVerified(string name)
    {
        var mode = LatencyModeCatalog.Find(name)!;

        var report = LatencyRunner.Run(mode, Short(3 << 20) with { Iterations = 3, Warmup = 1 });

        Assert.Equal(3, Assert.Single(report.Series).Statistics.Count);
        var verified = name switch { "send" => "send: 4 echoes", "write" => "write: 4 polled octets", _ => "read: 2 Reads" };
        Assert.Contains(report.Notes, n => n.StartsWith(verified, StringComparison.Ordinal));
    }

    [Fact]
    public void RdmaModes_DurationRun_StopsAtTheDeadline()
    {
        var clock = Stopwatch.StartNew();

        var report = LatencyRunner.Run(new SendPingPongMode(), Short(64) with { Duration = TimeSpan.FromMilliseconds(300), Warmup = 10 });

        Assert.InRange(Assert.Single(report.Series).Statistics.Count, 2, 10_000_000);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
    }

    [Fact]
    public void SendMode_ExternalResponder_ConnectsByHostAndPort()
    {
        using var responder = new SoftLatencyResponder(new IPEndPoint(IPAddress.Loopback, 0));

        var report = LatencyRunner.Run(new SendPingPongMode(), Short(128) with { Host = "127.0.0.1", Port = responder.LocalEndPoint.Port });

        Assert.Equal(300, Assert.Single(report.Series).Statistics.Count);
        Assert.Equal(1, responder.AcceptedConnections);
        Assert.Contains(report.Notes, n => n.Contains($"soft latency responder at 127.0.0.1 (127.0.0.1:{responder.LocalEndPoint.Port})"));
    }

    [Fact]
    public void LatencyServices_AsServeHostsThem_AnswerSendAndTcp()
    {
        var log = new StringWriter();
        using var services = LatencyServices.Start(IPAddress.Loopback, IwarpSetupOptions.Default, log, tcpPort: 0, softPort: 0);

        var send = LatencyRunner.Run(new SendPingPongMode(), Short(64) with { Host = "127.0.0.1", Port = services.SoftEndPoint!.Port, Iterations = 50 });
        var tcp = LatencyRunner.Run(new TcpPingPongMode(), Short(64) with { Host = "127.0.0.1", Port = services.TcpEndPoint!.Port, Iterations = 50 });

        Assert.Equal(50, Assert.Single(send.Series).Statistics.Count);
        Assert.Equal(50, Assert.Single(tcp.Series).Statistics.Count);
        Assert.Contains("soft latency responder on 127.0.0.1:", log.ToString());
        Assert.Contains("tcp/udp echo responder on 127.0.0.1:", log.ToString());
    }

    [Fact]
    public void LatencyServices_PortTaken_LogsAndGoesOn()
    {
        using var taken = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen();
        var log = new StringWriter();

        using var services = LatencyServices.Start(IPAddress.Loopback, IwarpSetupOptions.Default, log, tcpPort: 0, softPort: ((IPEndPoint)taken.LocalEndPoint!).Port);

        Assert.Null(services.SoftEndPoint);
        Assert.NotNull(services.TcpEndPoint);
        Assert.Contains("latency: no soft latency responder: soft latency responder: cannot listen on", log.ToString());
    }

    [Theory]
    [InlineData("send")]
    [InlineData("write")]
    [InlineData("read")]
    public async Task RdmaModes_ResponderShutDownMidRun_ClientFailsWithTheConnectionError(string name)
    {
        var responder = new SoftLatencyResponder(new IPEndPoint(IPAddress.Loopback, 0));
        var run = Task.Run(() => LatencyRunner.Run(LatencyModeCatalog.Find(name)!,
            Short(64) with { Host = "127.0.0.1", Port = responder.LocalEndPoint.Port, Duration = TimeSpan.FromSeconds(20) }));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (responder.AcceptedConnections == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
        await Task.Delay(200);

        responder.Dispose();

        var e = await Assert.ThrowsAnyAsync<Exception>(() => run);
        Assert.True(e is IwarpException or IOException or TimeoutException, e.ToString());
    }

    [Fact]
    public void SendMode_NothingListening_IsUserInputErrorNamingServe()
    {
        var port = SamplerTests.FreeTcpPort();

        var e = Assert.Throws<UserInputException>(() => LatencyRunner.Run(new SendPingPongMode(), Short(64) with { Host = "127.0.0.1", Port = port }));

        Assert.Contains($"127.0.0.1:{port}", e.Message);
        Assert.Contains("rdmadiag serve --soft", e.Message);
    }

    [Fact]
    public async Task SendMode_AgainstTheProbeServer_IsUserInputErrorSayingWhichPort()
    {
        using var probe = SoftServer.Start(new IPEndPoint(IPAddress.Loopback, 0), IwarpSetupOptions.Default, TextWriter.Null);
        using var stop = new CancellationTokenSource();
        var serving = probe.RunAsync(stop.Token);

        var e = Assert.Throws<UserInputException>(() =>
            LatencyRunner.Run(new SendPingPongMode(), Short(64) with { Host = "127.0.0.1", Port = probe.LocalEndPoint.Port }));

        Assert.Contains("not a soft latency responder", e.Message);
        Assert.Contains($"port {SoftLatencyProtocol.DefaultPort}", e.Message);
        stop.Cancel();
        await serving;
    }

    [Fact]
    public void WriteMode_SizeAboveTheResponderRegionLimit_IsUserInputError()
    {
        using var responder = new SoftLatencyResponder(new IPEndPoint(IPAddress.Loopback, 0), maxMessage: 4096);

        var e = Assert.Throws<UserInputException>(() =>
            LatencyRunner.Run(new WritePingPongMode(), Short(64, 8192) with { Host = "127.0.0.1", Port = responder.LocalEndPoint.Port }));

        Assert.Equal("--size 8192: above the 4096-byte (4 KiB) memory region limit of the soft latency responder at 127.0.0.1", e.Message);
    }

    [Fact]
    public void SendMode_ResponderRequiresCrcClientLeavesItOff_RunsWithCrcOn()
    {
        using var responder = new SoftLatencyResponder(new IPEndPoint(IPAddress.Loopback, 0), IwarpSetupOptions.Default with { Crc = CrcPolicy.Required });

        var report = LatencyRunner.Run(new SendPingPongMode(), Short(64) with { Host = "127.0.0.1", Port = responder.LocalEndPoint.Port, Iterations = 20 });

        Assert.Contains(report.Notes, n => n.Contains("CRC on"));
    }

    [Theory]
    [InlineData(true, "write 64 B: in exchange 1 the polled octet became 0x03, expected the tag 0x02")]
    [InlineData(false, "write 64 B: octet 0 of this side's region is 0x")]
    public void WriteMode_ResponderWritesWrongData_FailsNamingTheOctet(bool wrongTag, string expected)
    {
        using var liar = new LyingWriteResponder(wrongTag);

        var e = Assert.Throws<IOException>(() =>
            LatencyRunner.Run(new WritePingPongMode(), Short(64) with { Host = "127.0.0.1", Port = liar.Port, Warmup = 0, Iterations = 5 }));

        Assert.StartsWith(expected, e.Message);
    }

    [Fact]
    public void Control_RoundTrip_KeepsEveryField()
    {
        var sent = new SoftLatencyControl(SoftLatencyOpcode.Done, SoftLatencyStatus.DataMismatch, 4096, 1234567890123, 0xDEADBEEFCAFEF00D, 0x1122334455667788, 0x99AABBCC);
        var buffer = new byte[SoftLatencyProtocol.ControlLength];
        buffer.AsSpan().Fill(0xFF);

        sent.Write(buffer);

        Assert.Equal("RDLT"u8.ToArray(), buffer[..4]);
        Assert.Equal(new byte[4], buffer[12..16]);
        Assert.Equal(new byte[4], buffer[44..48]);
        Assert.True(SoftLatencyControl.TryRead(buffer, out var read, out var error), error);
        Assert.Equal(sent, read);
    }

    [Fact]
    public void Control_Garbage_IsRefusedWithAReasonNeverAnException()
    {
        var random = new Random(7);
        for (var i = 0; i < 2000; i++)
        {
            var bytes = new byte[random.Next(0, 80)];
            random.NextBytes(bytes);
            if (bytes.Length >= 5 && random.Next(2) == 0)
            {
                "RDLT"u8.CopyTo(bytes);
                bytes[4] = SoftLatencyProtocol.Version;
            }

            var ok = SoftLatencyControl.TryRead(bytes, out _, out var error);

            Assert.True(ok == (bytes.Length == SoftLatencyProtocol.ControlLength && bytes.AsSpan(0, 4).SequenceEqual("RDLT"u8) && bytes[4] == 1), error);
        }
        Assert.False(SoftLatencyControl.TryRead(new byte[48], out _, out var magic));
        Assert.Equal("magic 00000000, expected 52444C54 (\"RDLT\")", magic);
    }

    [Fact]
    public void Hello_RoundTrip_AndOtherPrivateDataIsNotAHello()
    {
        var hello = SoftLatencyProtocol.WriteHello(SoftLatencyOp.Write, busyPoll: true);

        Assert.True(SoftLatencyProtocol.TryReadHello(hello, out var version, out var op, out var flags));
        Assert.Equal((SoftLatencyProtocol.Version, SoftLatencyOp.Write, SoftLatencyProtocol.FlagBusyPoll), (version, op, flags));
        Assert.False(SoftLatencyProtocol.TryReadHello("RDPB\x01\x01\0\0"u8, out _, out _, out _));
        Assert.False(SoftLatencyProtocol.TryReadHello([], out _, out _, out _));
        Assert.True(SoftLatencyProtocol.TryReadReply(SoftLatencyProtocol.WriteReply(SoftLatencyStatus.Busy, 1 << 20), out _, out var status, out var max));
        Assert.Equal((SoftLatencyStatus.Busy, 1 << 20), (status, max));
    }

    [Fact]
    public void Tag_NeverZeroAndNeverRepeatsItsPredecessor()
    {
        for (long k = 1; k < 2000; k++)
        {
            Assert.NotEqual(0, SoftLatencyProtocol.Tag(k));
            Assert.NotEqual(SoftLatencyProtocol.Tag(k - 1), SoftLatencyProtocol.Tag(k));
        }
    }

    [NetLabFact]
    [Trait("Tier", "netns")]
    public void RdmaModes_AcrossNamespaces_MeasureOverVeth()
    {
        using var lab = NetLab.Create(router: false);
        using var services = lab.Server.Run(() => LatencyServices.Start(lab.Server.Address, IwarpSetupOptions.Default, TextWriter.Null));

        foreach (var mode in new ILatencyMode[] { new SendPingPongMode(), new WritePingPongMode(), new ReadLatencyMode() })
        {
            var report = lab.Client.Run(() => LatencyRunner.Run(mode, Short(64, 4096) with { Host = lab.Server.Address.ToString() }));

            AssertSeries(report, mode.Name, mode.Name == "read" ? "post→completion" : "rtt/2", 300, 64, 4096);
            Assert.Contains(report.Notes, n => n.Contains($"soft latency responder at {lab.Server.Address} ({lab.Server.Address}:{SoftLatencyProtocol.DefaultPort})"));
            // veth carries a 1500-octet MTU: the endpoint cuts FPDUs from the real MSS, not loopback's.
            Assert.Contains(report.Notes, n => System.Text.RegularExpressions.Regex.IsMatch(n, @"EMSS 14\d\d,"));
        }
    }
}

/// <summary>
/// A soft latency responder that answers RDMA Writes wrongly: with the next exchange's tag instead
/// of this one's, or with the right tag but its first payload octet flipped.
/// </summary>
internal sealed class LyingWriteResponder : IDisposable
{
    private readonly IwarpListener _listener = IwarpListener.Start(new IPEndPoint(IPAddress.Loopback, 0));
    private readonly Thread _thread;
    private readonly CancellationTokenSource _stop = new();
    private IwarpConnection? _connection;

    public LyingWriteResponder(bool wrongTag)
    {
        _thread = new Thread(() => Serve(wrongTag)) { IsBackground = true };
        _thread.Start();
    }

    public int Port => _listener.LocalEndPoint.Port;

    private void Serve(bool wrongTag)
    {
        try
        {
            using var request = _listener.AcceptAsync(_stop.Token).GetAwaiter().GetResult();
            var connection = _connection = new IwarpConnection();
            var control = new byte[SoftLatencyProtocol.ControlLength];
            connection.PostReceive(0, control);
            request.Accept(connection, SoftLatencyProtocol.WriteReply(SoftLatencyStatus.Ok, 1 << 20));
            var completion = connection.WaitForCompletion(TimeSpan.FromSeconds(5));
            Assert.True(SoftLatencyControl.TryRead(control.AsSpan(0, completion.ByteLength), out var setup, out _));
            var transport = new RdmaDiag.Verbs.SoftTransport(connection);
            var mr = transport.Register(setup.Size, MemoryAccess.LocalWrite | MemoryAccess.RemoteWrite);
            connection.PostReceive(0, control);
            Reply(connection, new SoftLatencyControl(SoftLatencyOpcode.Ready, Size: setup.Size, TaggedOffset: mr.RemoteAddress, STag: mr.RemoteKey));
            var source = new byte[setup.Size];
            ProbeMessage.FillPattern(source, SoftLatencyProtocol.ResponderSeed(setup.Seed));
            source[0] ^= 0xFF;
            byte previous = 0;
            long exchange = 0;
            while (true)
            {
                var seen = LastOctetPoller.WaitForChange(mr, previous, transport, false, Stopwatch.Frequency * 10, true, out completion);
                if (seen < 0)
                {
                    Reply(connection, new SoftLatencyControl(SoftLatencyOpcode.Done, Size: setup.Size, Count: exchange));
                    continue;
                }
                previous = (byte)seen;
                exchange++;
                source[^1] = (byte)(SoftLatencyProtocol.Tag(exchange) + (wrongTag ? 1 : 0));
                connection.PostWrite(0, source, setup.STag, setup.TaggedOffset, PostFlags.None);
            }
        }
        catch (Exception e) when (e is IwarpException or OperationCanceledException or ObjectDisposedException or TimeoutException)
        {
            // The client went away (or the test ended): this responder's work is done.
        }
    }

    private static void Reply(IwarpConnection connection, SoftLatencyControl message)
    {
        var buffer = new byte[SoftLatencyProtocol.ControlLength];
        message.Write(buffer);
        connection.PostSend(0, buffer, PostFlags.None);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
        _connection?.Dispose();
        _thread.Join(TimeSpan.FromSeconds(5));
    }
}
