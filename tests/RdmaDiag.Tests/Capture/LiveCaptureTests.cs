using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using RdmaDiag.Capture;
using RdmaDiag.Cli;
using RdmaDiag.Diagnostics.Findings;

namespace RdmaDiag.Tests.Capture;

public sealed class LiveCaptureTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rdmadiag-live-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [RootFact]
    public async Task LiveCapture_LoopbackExchange_ReassembledAndCounted()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var capture = LiveCapture.Open(new LiveCaptureOptions { Interface = "lo", Filter = CaptureSelector.BuildFilter([port]) });
        var consumer = new RecordingConsumer();
        var tracker = new TcpTracker(new FindingList(), new StreamConsumerFactory(_ => consumer));
        var exchange = Task.Run(async () =>
        {
            await Task.Delay(200);
            await CaptureFileTests.Exchange(listener, port);
            await Task.Delay(300);
            capture.Stop();
        });
        var timeouts = 0;
        var deadline = Stopwatch.StartNew();
        PacketReadResult r;
        while ((r = capture.Read(out var packet)) != PacketReadResult.End && deadline.Elapsed < TimeSpan.FromSeconds(20))
        {
            if (r == PacketReadResult.Packet)
            {
                Assert.Equal(LinkType.Ethernet, packet.LinkType);
                tracker.Process(packet);
            }
            else
            {
                timeouts++;
            }
        }
        await exchange;
        listener.Stop();
        tracker.Complete();

        var flow = Assert.Single(tracker.Flows);
        Assert.True(flow.HandshakeSeen);
        Assert.Equal(TcpFlowState.Closed, flow.State);
        Assert.Equal(20 + 5 * 3000, consumer.Bytes[0].Length);
        Assert.Equal(500, consumer.Bytes[1].Length);
        Assert.StartsWith("MPA ID Req Frame", System.Text.Encoding.ASCII.GetString(consumer.Bytes[0].ToArray(), 0, 16));
        Assert.True(timeouts >= 1, "an idle read should have returned Timeout, not blocked");
        Assert.True(capture.GetStatistics().Received > 0);
    }

    [RootFact]
    public async Task CaptureVerb_HeuristicMode_WritesValidFileWithMpaFlowOnly()
    {
        var path = Path.Combine(_dir, "cli.pcapng");
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var other = new TcpListener(IPAddress.Loopback, 0);
        other.Start();
        var output = new StringWriter();
        var error = new StringWriter();
        var run = Task.Run(() => CliRoot.Run(["capture", "-i", "lo", "-w", path, "--duration", "3"], output, error));
        await Task.Delay(800);
        await CaptureFileTests.Exchange(listener, port);
        using (var plain = new TcpClient())
        {
            await plain.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)other.LocalEndpoint).Port);
            using var accepted = await other.AcceptTcpClientAsync();
            await plain.GetStream().WriteAsync("GET / HTTP/1.0\r\n\r\n"u8.ToArray());
        }
        var code = await run;
        listener.Stop();
        other.Stop();

        Assert.True(code == 0, $"exit {code}: {error}");
        var text = output.ToString();
        Assert.Contains($"→ 127.0.0.1:{port}", text);
        Assert.Matches(@"dropped: \d+ by the kernel \(buffer full\), \d+ by the interface", text);
        var tracker = CaptureAnalysis.RunFile(path, new FindingList());
        var flow = Assert.Single(tracker.Flows, f => f.Server.Endpoint.Port == port);
        Assert.True(flow.HandshakeSeen);
        Assert.DoesNotContain(tracker.Flows, f => f.Server.Endpoint.Port == ((IPEndPoint)other.LocalEndpoint).Port);
        Assert.Contains(CaptureFileTests.Tshark(path, "tcp.srcport"), l => l == port.ToString());
    }

    [RootFact]
    public async Task CaptureVerb_ConnectToClosedPort_SynResetFindingAndExitOne()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var output = new StringWriter();
        var run = Task.Run(() => CliRoot.Run(["capture", "-i", "lo", "--port", port.ToString(), "--duration", "2"], output, new StringWriter()));
        await Task.Delay(800);
        using (var client = new TcpClient())
        {
            await Assert.ThrowsAsync<SocketException>(() => client.ConnectAsync(IPAddress.Loopback, port));
        }
        var code = await run;

        Assert.Equal(ExitCodes.Failed, code);
        Assert.Contains($"error tcp-syn-rst", output.ToString());
    }

    [Theory]
    [InlineData(new[] { "capture", "--port", "70000" }, "--port '70000'")]
    [InlineData(new[] { "capture", "--port", "abc" }, "--port 'abc'")]
    [InlineData(new[] { "capture", "--count", "-3" }, "--count '-3'")]
    [InlineData(new[] { "capture", "--duration", "soon" }, "--duration 'soon'")]
    [InlineData(new[] { "capture", "-w", "/nonexistent-dir/x.pcapng", "--duration", "1" }, "/nonexistent-dir/x.pcapng")]
    public void CaptureVerb_BadInput_OneLineExitTwo(string[] args, string named)
    {
        var error = new StringWriter();

        var code = CliRoot.Run(args, new StringWriter(), error);

        Assert.Equal(ExitCodes.BadInput, code);
        var line = Assert.Single(error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("rdmadiag: ", line);
        Assert.Contains(named, line);
    }

    [RootFact]
    public void CaptureVerb_UnknownInterface_ExitTwoListsInterfaces()
    {
        var error = new StringWriter();

        var code = CliRoot.Run(["capture", "-i", "nosuch0", "--duration", "1"], new StringWriter(), error);

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("interface 'nosuch0' does not exist (available:", error.ToString());
        Assert.Contains("lo", error.ToString());
    }
}
