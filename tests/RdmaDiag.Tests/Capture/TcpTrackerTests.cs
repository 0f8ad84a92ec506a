using System.Buffers.Binary;
using System.Net;
using RdmaDiag.Capture;
using RdmaDiag.Diagnostics.Findings;
using static RdmaDiag.Tests.Capture.Frames;

namespace RdmaDiag.Tests.Capture;

public class TcpTrackerTests
{
    private readonly FindingList _findings = new();
    private readonly RecordingConsumer _consumer = new();
    private readonly TcpTracker _tracker;
    private readonly Conversation _c;

    public TcpTrackerTests()
    {
        _tracker = new TcpTracker(_findings, new StreamConsumerFactory(_ => _consumer), new TcpTrackerOptions { MaxBufferedBytes = 4096 });
        _c = new Conversation(_tracker);
    }

    private static byte[] Bytes(int length, int seed) => Enumerable.Range(0, length).Select(i => (byte)(i * 7 + seed)).ToArray();

    private string[] Rules() => _findings.Items.Select(f => f.RuleId).ToArray();

    [Fact]
    public void InOrderSegments_DeliveredWithSeqAndFrame()
    {
        _c.Handshake();
        _c.FromClient(1001, 5001, TcpFlags.Ack | TcpFlags.Psh, Bytes(100, 1));
        _c.FromClient(1101, 5001, TcpFlags.Ack | TcpFlags.Psh, Bytes(50, 2));
        _tracker.Complete();

        Assert.Equal([(1001u, 100, 4L), (1101u, 50, 5L)], _consumer.Data);
        var flow = Assert.Single(_tracker.Flows);
        Assert.True(flow.HandshakeSeen);
        Assert.Equal(TcpFlowState.Established, flow.State);
        Assert.Equal(1460, flow.Server.Mss);
        Assert.Equal(7, flow.Client.WindowScale);
        Assert.Equal("end", _consumer.Calls[^1]);
    }

    [Fact]
    public void OutOfOrderSegments_BufferedAndDeliveredInOrder()
    {
        _c.Handshake();
        var a = Bytes(100, 1);
        var b = Bytes(100, 2);
        var d = Bytes(100, 3);
        _c.FromClient(1201, 5001, TcpFlags.Ack, d);
        _c.FromClient(1101, 5001, TcpFlags.Ack, b);
        _c.FromClient(1001, 5001, TcpFlags.Ack, a);
        _tracker.Complete();

        Assert.Equal([(1001u, 100, 6L), (1101u, 100, 5L), (1201u, 100, 4L)], _consumer.Data);
        Assert.Equal([.. a, .. b, .. d], _consumer.Bytes[0].ToArray());
        Assert.DoesNotContain("tcp-gap", Rules());
    }

    [Fact]
    public void RetransmissionWithSameBytes_DroppedWithoutMismatch()
    {
        _c.Handshake();
        var a = Bytes(100, 1);
        _c.FromClient(1001, 5001, TcpFlags.Ack, a);
        _c.FromClient(1001, 5001, TcpFlags.Ack, a);
        _tracker.Complete();

        Assert.Single(_consumer.Data);
        Assert.Equal(1, _tracker.Flows[0].Client.Retransmissions);
        Assert.DoesNotContain("tcp-overlap-mismatch", Rules());
    }

    [Fact]
    public void OverlapWithDifferentBytes_FirstCopyWinsAndMismatchReported()
    {
        _c.Handshake();
        var first = Bytes(100, 1);
        var second = Bytes(150, 9);
        _c.FromClient(1001, 5001, TcpFlags.Ack, first);
        _c.FromClient(1001, 5001, TcpFlags.Ack, second);
        _tracker.Complete();

        var delivered = _consumer.Bytes[0].ToArray();
        Assert.Equal(150, delivered.Length);
        Assert.Equal(first, delivered[..100]);
        Assert.Equal(second[100..], delivered[100..]);
        var finding = Assert.Single(_findings.Items, f => f.RuleId == "tcp-overlap-mismatch");
        Assert.Equal(5, finding.Frame);
    }

    [Fact]
    public void OverlapBetweenBufferedSegments_FirstCopyWins()
    {
        _c.Handshake();
        var late = Bytes(100, 1);
        _c.FromClient(1101, 5001, TcpFlags.Ack, late);
        var overlapping = Bytes(150, 4);
        _c.FromClient(1051, 5001, TcpFlags.Ack, overlapping);
        _c.FromClient(1001, 5001, TcpFlags.Ack, Bytes(50, 2));
        _tracker.Complete();

        var delivered = _consumer.Bytes[0].ToArray();
        Assert.Equal(200, delivered.Length);
        Assert.Equal(late, delivered[100..]);
        Assert.Contains("tcp-overlap-mismatch", Rules());
    }

    [Fact]
    public void AckBeyondCapturedData_GapReportedNeverGuessed()
    {
        _c.Handshake();
        _c.FromClient(1001, 5001, TcpFlags.Ack, Bytes(100, 1));
        _c.FromClient(1201, 5001, TcpFlags.Ack, Bytes(100, 3));
        _c.FromServer(5001, 1301, TcpFlags.Ack);
        _tracker.Complete();

        Assert.Equal(["data ClientToServer 1001 100 f4", "gap ClientToServer 1101 100 NotCaptured", "data ClientToServer 1201 100 f5", "end"], _consumer.Calls);
        var gap = Assert.Single(_findings.Items, f => f.RuleId == "tcp-gap");
        Assert.Contains("100 octets", gap.Message);
        Assert.Equal(100, _tracker.Flows[0].Client.GapBytes);
    }

    [Fact]
    public void HoleAtCaptureEnd_GapThenBufferedData()
    {
        _c.Handshake();
        _c.FromClient(1101, 5001, TcpFlags.Ack, Bytes(10, 3));
        _tracker.Complete();

        Assert.Equal(["gap ClientToServer 1001 100 CaptureEnded", "data ClientToServer 1101 10 f4", "end"], _consumer.Calls);
    }

    [Fact]
    public void OutOfOrderBeyondLimit_GapAndLimitFinding()
    {
        _c.Handshake();
        for (var i = 0; i < 6; i++)
        {
            _c.FromClient((uint)(2001 + i * 1000), 5001, TcpFlags.Ack, Bytes(1000, i));
        }
        _tracker.Complete();

        Assert.Contains("tcp-reassembly-limit", Rules());
        Assert.StartsWith("gap ClientToServer 1001 1000 ReassemblyLimit", _consumer.Calls[0]);
        Assert.Equal(6000, _consumer.Bytes[0].Length);
    }

    [Fact]
    public void SequenceWrapAround_DeliveredInOrder()
    {
        _c.FromClient(0xFFFFFF00, 0, TcpFlags.Syn, options: SynOptions());
        _c.FromServer(1, 0xFFFFFF01, TcpFlags.Syn | TcpFlags.Ack, options: SynOptions());
        _c.FromClient(0xFFFFFF01, 2, TcpFlags.Ack, Bytes(0x100, 1));
        _c.FromClient(0x00000001, 2, TcpFlags.Ack, Bytes(0x10, 2));
        _c.FromClient(0xFFFFFFF1, 2, TcpFlags.Ack, Bytes(0x100, 1)[0xF0..]);
        _tracker.Complete();

        Assert.Equal([(0xFFFFFF01u, 0x100, 3L), (1u, 0x10, 4L)], _consumer.Data);
        Assert.Equal(1, _tracker.Flows[0].Client.Retransmissions);
        Assert.DoesNotContain("tcp-gap", Rules());
        Assert.DoesNotContain("tcp-overlap-mismatch", Rules());
    }

    [Fact]
    public void FinAfterHole_DeliveredAfterData()
    {
        _c.Handshake();
        _c.FromClient(1101, 5001, TcpFlags.Ack | TcpFlags.Fin, Bytes(50, 2));
        _c.FromClient(1001, 5001, TcpFlags.Ack, Bytes(100, 1));
        _tracker.Complete();

        Assert.Equal(["data ClientToServer 1001 100 f5", "data ClientToServer 1101 50 f4", "fin ClientToServer 1151", "end"], _consumer.Calls);
    }

    [Fact]
    public void BothFins_FlowClosedAndConsumerEnded()
    {
        _c.Handshake();
        _c.FromClient(1001, 5001, TcpFlags.Ack | TcpFlags.Fin);
        _c.FromServer(5001, 1002, TcpFlags.Ack | TcpFlags.Fin);
        _c.FromClient(1002, 5002, TcpFlags.Ack);

        Assert.Equal(TcpFlowState.Closed, _tracker.Flows[0].State);
        Assert.True(_tracker.Flows[0].IsFinished);
        Assert.Equal(["fin ClientToServer 1001", "fin ServerToClient 5001", "end"], _consumer.Calls);
        Assert.Equal(2, Rules().Count(r => r == "tcp-fin"));
    }

    [Fact]
    public void SynWithoutAnswer_SynUnansweredError()
    {
        _c.FromClient(1000, 0, TcpFlags.Syn, options: SynOptions(), tsNanos: 0);
        _c.FromClient(1000, 0, TcpFlags.Syn, options: SynOptions(), tsNanos: 1_000_000_000);
        _c.FromClient(1000, 0, TcpFlags.Syn, options: SynOptions(), tsNanos: 3_000_000_000);
        _tracker.Complete();

        var f = Assert.Single(_findings.Items);
        Assert.Equal("tcp-syn-unanswered", f.RuleId);
        Assert.Equal(FindingSeverity.Error, f.Severity);
        Assert.Equal(1, f.Frame);
        Assert.Equal(0, f.Flow);
        Assert.Contains("3 SYNs", f.Message);
        Assert.Contains("3 s", f.Message);
    }

    [Fact]
    public void SynAnsweredByRst_SynResetError()
    {
        _c.FromClient(1000, 0, TcpFlags.Syn, options: SynOptions());
        _c.FromServer(0, 1001, TcpFlags.Rst | TcpFlags.Ack);
        _tracker.Complete();

        var f = Assert.Single(_findings.Items);
        Assert.Equal("tcp-syn-rst", f.RuleId);
        Assert.Equal(2, f.Frame);
        Assert.Contains("port 7174", f.Message);
        Assert.Equal(TcpFlowState.Reset, _tracker.Flows[0].State);
    }

    [Fact]
    public void RstAfterData_RstMidStreamWarning()
    {
        _c.Handshake();
        _c.FromClient(1001, 5001, TcpFlags.Ack, Bytes(100, 1));
        _c.FromServer(5001, 1101, TcpFlags.Rst | TcpFlags.Ack);

        var f = Assert.Single(_findings.Items);
        Assert.Equal("tcp-rst-mid-stream", f.RuleId);
        Assert.Contains("after 0 octets sent and 100 received", f.Message);
        Assert.Equal(["data ClientToServer 1001 100 f4", "rst ServerToClient", "end"], _consumer.Calls);
    }

    [Fact]
    public void ZeroWindow_OneFindingPerEpisode()
    {
        _c.Handshake();
        _c.FromServer(5001, 1001, TcpFlags.Ack, window: 0);
        _c.FromServer(5001, 1001, TcpFlags.Ack, window: 0);
        _c.FromServer(5001, 1001, TcpFlags.Ack, window: 100);
        _c.FromServer(5001, 1001, TcpFlags.Ack, window: 0);
        _tracker.Complete();

        Assert.Equal([4L, 7L], _findings.Items.Where(f => f.RuleId == "tcp-zero-window").Select(f => f.Frame!.Value));
    }

    [Fact]
    public void SegmentLargerThanAnnouncedMss_Warning()
    {
        _c.Handshake(serverMss: 1000);
        _c.FromClient(1001, 5001, TcpFlags.Ack, Bytes(1200, 1));
        _c.FromClient(2201, 5001, TcpFlags.Ack, Bytes(1200, 1));
        _tracker.Complete();

        var f = Assert.Single(_findings.Items, x => x.RuleId == "tcp-segment-exceeds-mss");
        Assert.Contains("1200 octets", f.Message);
        Assert.Contains("MSS 1000", f.Message);
    }

    [Fact]
    public void RetransmissionBurst_OneFindingWithCount()
    {
        _c.Handshake();
        var data = Bytes(100, 1);
        _c.FromClient(1001, 5001, TcpFlags.Ack, data, tsNanos: 10_000_000);
        for (var i = 1; i <= 4; i++)
        {
            _c.FromClient(1001, 5001, TcpFlags.Ack, data, tsNanos: 10_000_000 + i * 200_000_000L);
        }
        _tracker.Complete();

        var f = Assert.Single(_findings.Items, x => x.RuleId == "tcp-retransmission-burst");
        Assert.StartsWith("4 segments (400 octets)", f.Message);
    }

    [Fact]
    public void IcmpAdminProhibited_TiedToFlow()
    {
        _c.FromClient(1000, 0, TcpFlags.Syn, options: SynOptions());
        var quoted = IPv4(A, B, 6, Tcp(40000, 7174, 1000, 0, TcpFlags.Syn));
        byte[] icmp = [3, 13, 0, 0, 0, 0, 0, 0, .. quoted.AsSpan(0, 28)];
        _c.Raw(IPv4(B, A, 1, icmp));
        _tracker.Complete();

        var f = Assert.Single(_findings.Items, x => x.RuleId == "icmp-admin-prohibited");
        Assert.Equal(0, f.Flow);
        Assert.Equal(2, f.Frame);
        Assert.Contains("10.0.0.1:40000 → 10.0.0.2:7174", f.Message);
    }

    [Fact]
    public void MidStreamCapture_FirstPacketSourceIsClient()
    {
        _c.FromServer(9000, 2000, TcpFlags.Ack, Bytes(10, 1));
        _c.FromClient(2000, 9010, TcpFlags.Ack, Bytes(5, 1));
        _tracker.Complete();

        var flow = _tracker.Flows[0];
        Assert.False(flow.HandshakeSeen);
        Assert.Equal(7174, flow.Client.Endpoint.Port);
        Assert.Equal(["data ClientToServer 9000 10 f1", "data ServerToClient 2000 5 f2", "end"], _consumer.Calls);
    }

    [Fact]
    public void SnaplenCutSegment_GapForMissingTail()
    {
        _c.Handshake();
        var full = IPv4(A, B, 6, Tcp(40000, 7174, 1001, 5001, TcpFlags.Ack, payload: Bytes(500, 1)));
        var packet = new RawPacket(4, 0, LinkType.Raw, 0, full.Length, full.AsSpan(0, 140));
        _tracker.Process(packet);
        _tracker.Complete();

        Assert.Equal(["data ClientToServer 1001 100 f4", "gap ClientToServer 1101 400 Snaplen", "end"], _consumer.Calls);
        Assert.Contains("capture-snaplen", Rules());
        Assert.DoesNotContain("tcp-gap", Rules());
    }

    [Fact]
    public void PortReuseAfterClose_NewFlow()
    {
        _c.Handshake();
        _c.FromClient(1001, 5001, TcpFlags.Rst);
        _c.FromClient(777777, 0, TcpFlags.Syn, options: SynOptions());
        _tracker.Complete();

        Assert.Equal(2, _tracker.Flows.Count);
        Assert.Equal(1, _tracker.Flows[1].Id);
    }
}
