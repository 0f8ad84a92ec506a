using RdmaDiag.Diagnostics.Findings;

namespace RdmaDiag.Capture;

/// <summary>Counts over a whole capture.</summary>
public sealed class CaptureCounters
{
    public long Packets { get; internal set; }
    public long Octets { get; internal set; }
    public long TcpPackets { get; internal set; }
    public long IcmpErrors { get; internal set; }
    public long NotIp { get; internal set; }
    public long OtherIp { get; internal set; }
    public long Malformed { get; internal set; }
    public long Fragments { get; internal set; }
    public long SnaplenCut { get; internal set; }
    public long FirstTimestampNanos { get; internal set; }
    public long LastTimestampNanos { get; internal set; }
}

/// <summary>
/// Follows every TCP connection in a capture: per-flow, per-direction reassembly into
/// <see cref="IStreamConsumer"/>s, and the TCP/ICMP findings (unanswered and reset SYNs, ICMP errors tied to their
/// flow, resets and FINs, retransmission bursts, zero windows, segments over the announced MSS, gaps).
/// Feed packets in capture order with <see cref="Process(in RawPacket)"/>, then call <see cref="Complete"/> once.
/// </summary>
public sealed class TcpTracker
{
    private readonly IFindingSink _findings;
    private readonly IStreamConsumerFactory? _consumers;
    private readonly Dictionary<FlowKey, TcpFlow> _byKey = [];
    private readonly List<TcpFlow> _flows = [];
    private readonly Dictionary<(int Flow, string Rule), int> _ruleCounts = [];
    private long _frame;
    private long _ts;
    private long _firstFragmentFrame;
    private long _firstSnaplenFrame;
    private bool _completed;

    public TcpTracker(IFindingSink findings, IStreamConsumerFactory? consumers = null, TcpTrackerOptions? options = null)
    {
        _findings = findings;
        _consumers = consumers;
        Options = options ?? new TcpTrackerOptions();
    }

    public TcpTrackerOptions Options { get; }
    public CaptureCounters Counters { get; } = new();

    /// <summary>Every flow seen so far, in order of first packet (index = id).</summary>
    public IReadOnlyList<TcpFlow> Flows => _flows;

    /// <summary>Per-direction state that only the tracker needs (bursts, zero-window episodes, MSS excess).</summary>
    internal sealed class FlowExtras
    {
        public readonly Burst[] Bursts = [new(), new()];
        public readonly bool[] InZeroWindow = new bool[2];
        public readonly bool[] MssReported = new bool[2];
        public bool SynResetReported;
        /// <summary>An ICMP error about this flow arrived: its SYN was answered, just not by TCP.</summary>
        public bool IcmpAnswered;
        public bool RstReported;
    }

    internal sealed class Burst
    {
        public int Count;
        public long Octets;
        public long FirstFrame;
        public long LastFrame;
        public long FirstTs;
        public long LastTs;
    }

    public void Process(in RawPacket packet)
    {
        var parsed = PacketParser.Parse(packet.LinkType, packet.Data);
        Process(ref parsed, packet.Frame, packet.TimestampNanos, packet.OriginalLength > packet.CapturedLength);
    }

    /// <summary>Processes one already parsed frame.</summary>
    public void Process(ref ParsedPacket p, long frame, long timestampNanos, bool cutBySnaplen = false)
    {
        _frame = frame;
        _ts = timestampNanos;
        var c = Counters;
        if (c.Packets == 0)
        {
            c.FirstTimestampNanos = timestampNanos;
        }
        c.Packets++;
        c.LastTimestampNanos = timestampNanos;
        if (p.IsFragment)
        {
            c.Fragments++;
            if (_firstFragmentFrame == 0)
            {
                _firstFragmentFrame = frame;
            }
        }
        switch (p.Kind)
        {
            case PacketKind.Tcp:
                c.TcpPackets++;
                if (p.IsPayloadCut && cutBySnaplen)
                {
                    c.SnaplenCut++;
                    if (_firstSnaplenFrame == 0)
                    {
                        _firstSnaplenFrame = frame;
                    }
                }
                Tcp(ref p);
                break;
            case PacketKind.IcmpError:
                c.IcmpErrors++;
                Icmp(ref p);
                break;
            case PacketKind.NotIp:
                c.NotIp++;
                break;
            case PacketKind.Malformed:
                c.Malformed++;
                break;
            default:
                c.OtherIp++;
                break;
        }
    }

    private void Tcp(ref ParsedPacket p)
    {
        var tcp = p.Tcp;
        var src = p.TcpSource;
        var dst = p.TcpDestination;
        var key = FlowKey.Of(src, dst);
        var isSyn = tcp.Has(TcpFlags.Syn) && !tcp.Has(TcpFlags.Ack);
        if (!_byKey.TryGetValue(key, out var flow) || (isSyn && IsOver(flow, tcp.Sequence)))
        {
            // A flow first seen at its SYN-ACK still gets the SYN's sender as client.
            var synAck = tcp.Has(TcpFlags.Syn) && tcp.Has(TcpFlags.Ack);
            flow = NewFlow(key, synAck ? dst : src, synAck ? src : dst, isSyn);
        }
        var dir = flow.Client.Endpoint == src ? FlowDirection.ClientToServer : FlowDirection.ServerToClient;
        var sender = flow.Sender(dir);
        var receiver = flow.Receiver(dir);
        flow.LastFrame = _frame;
        flow.LastTimestampNanos = _ts;
        sender.Packets++;
        sender.PayloadBytes += p.PayloadLength;
        if (p.PayloadLength > sender.LargestSegment)
        {
            sender.LargestSegment = p.PayloadLength;
        }
        if (flow.IsFinished)
        {
            return;
        }
        var extras = Extras(flow);
        if (tcp.Has(TcpFlags.Syn))
        {
            Syn(flow, dir, sender, tcp);
        }
        if (tcp.Has(TcpFlags.Rst))
        {
            Rst(flow, dir, sender, receiver, extras, tcp);
            return;
        }
        var stream = flow.Streams[(int)dir];
        if (stream is null)
        {
            var first = tcp.Has(TcpFlags.Syn) ? tcp.Sequence + 1 : tcp.Sequence;
            stream = flow.Streams[(int)dir] = new Reassembler(this, flow, dir, first);
            if (flow.State == TcpFlowState.SynSent && dir == FlowDirection.ServerToClient && !tcp.Has(TcpFlags.Syn))
            {
                flow.State = TcpFlowState.Established;
            }
        }
        if (tcp.Has(TcpFlags.Ack) && !tcp.Has(TcpFlags.Syn))
        {
            if (flow.State == TcpFlowState.SynReceived && dir == FlowDirection.ClientToServer)
            {
                flow.State = TcpFlowState.Established;
            }
            flow.Streams[1 - (int)dir]?.AcknowledgedUpTo(tcp.Acknowledgment, _frame, _ts);
        }
        ZeroWindow(flow, dir, extras, tcp);
        if (p.PayloadLength > 0)
        {
            var seq = tcp.Has(TcpFlags.Syn) ? tcp.Sequence + 1 : tcp.Sequence;
            var outcome = stream.Segment(seq, p.Payload, p.PayloadLength, _frame, _ts);
            if (outcome == SegmentOutcome.Retransmission)
            {
                sender.Retransmissions++;
                Retransmitted(flow, dir, extras, p.PayloadLength);
            }
            if (receiver.Mss > 0 && p.PayloadLength > receiver.Mss && !extras.MssReported[(int)dir])
            {
                extras.MssReported[(int)dir] = true;
                Report(CaptureRules.SegmentExceedsMss, flow,
                    $"{flow.Describe(dir)} sent a segment with {p.PayloadLength} octets of payload; {receiver.Endpoint} announced MSS {receiver.Mss} in its SYN (frame {receiver.FirstSynFrame}).");
            }
        }
        if (tcp.Has(TcpFlags.Fin))
        {
            if (!sender.FinSeen)
            {
                sender.FinSeen = true;
                Report(CaptureRules.Fin, flow,
                    $"{sender.Endpoint} closed its direction (FIN) after sending {sender.StreamBytes + Math.Max(0, p.PayloadLength)} octets; {receiver.Endpoint} had sent {receiver.StreamBytes}.");
            }
            var seq = (tcp.Has(TcpFlags.Syn) ? tcp.Sequence + 1 : tcp.Sequence) + (uint)p.PayloadLength;
            stream.Fin(seq, _frame, _ts);
        }
    }

    /// <summary>A SYN on a known 4-tuple starts a new flow when the old one is over (port reuse).</summary>
    private static bool IsOver(TcpFlow flow, uint seq) =>
        flow.State is TcpFlowState.Closed or TcpFlowState.Reset
        || (flow.Client.SynSeen && flow.Client.InitialSequence != seq && flow.State != TcpFlowState.SynSent);

    private TcpFlow NewFlow(FlowKey key, NetEndpoint src, NetEndpoint dst, bool handshake)
    {
        if (_byKey.TryGetValue(key, out var old) && !old.IsFinished)
        {
            Finish(old);
        }
        var flow = new TcpFlow(_flows.Count, src, dst, handshake, _frame, _ts);
        _flows.Add(flow);
        _byKey[key] = flow;
        flow.Consumer = _consumers?.Create(flow);
        return flow;
    }

    private FlowExtras Extras(TcpFlow flow)
    {
        return flow.Extras ??= new FlowExtras();
    }

    private void Syn(TcpFlow flow, FlowDirection dir, FlowSide sender, TcpHeader tcp)
    {
        if (!sender.SynSeen)
        {
            sender.SynSeen = true;
            sender.InitialSequence = tcp.Sequence;
            sender.FirstSynFrame = _frame;
            sender.FirstSynTimestampNanos = _ts;
            sender.Mss = tcp.Mss;
            sender.WindowScale = tcp.WindowScale;
            sender.SackPermitted = tcp.SackPermitted;
            sender.Timestamps = tcp.HasTimestamps;
        }
        sender.SynCount++;
        if (dir == FlowDirection.ServerToClient && tcp.Has(TcpFlags.Ack) && flow.SynAckFrame == 0)
        {
            flow.SynAckFrame = _frame;
            if (flow.State == TcpFlowState.SynSent)
            {
                flow.State = TcpFlowState.SynReceived;
            }
        }
    }

    private void Rst(TcpFlow flow, FlowDirection dir, FlowSide sender, FlowSide receiver, FlowExtras extras, TcpHeader tcp)
    {
        sender.RstSeen = true;
        var client = flow.Client;
        if (flow.State == TcpFlowState.SynSent && dir == FlowDirection.ServerToClient && client.SynSeen)
        {
            if (!extras.SynResetReported)
            {
                extras.SynResetReported = true;
                var ms = (_ts - client.FirstSynTimestampNanos) / 1e6;
                Report(CaptureRules.SynReset, flow,
                    $"{flow.Server.Endpoint} answered the SYN from {client.Endpoint} (frame {client.FirstSynFrame}) with a reset after {ms:0.###} ms: nothing accepts connections on port {flow.Server.Endpoint.Port} there.");
            }
        }
        else if (!extras.RstReported && (flow.Client.FinSeen && flow.Server.FinSeen) == false
                 && (flow.State is TcpFlowState.Established or TcpFlowState.Closing || sender.PayloadBytes + receiver.PayloadBytes > 0))
        {
            extras.RstReported = true;
            Report(CaptureRules.RstMidStream, flow,
                $"{sender.Endpoint} reset the connection to {receiver.Endpoint} after {sender.StreamBytes} octets sent and {receiver.StreamBytes} received.");
        }
        foreach (var s in flow.Streams)
        {
            s?.Flush(_frame, _ts);
        }
        flow.Consumer?.OnRst(dir, tcp.Sequence, _frame, _ts);
        flow.State = TcpFlowState.Reset;
        Finish(flow);
    }

    private void ZeroWindow(TcpFlow flow, FlowDirection dir, FlowExtras extras, TcpHeader tcp)
    {
        var i = (int)dir;
        if (tcp.Window == 0 && !tcp.Has(TcpFlags.Syn) && !tcp.Has(TcpFlags.Fin))
        {
            if (!extras.InZeroWindow[i])
            {
                extras.InZeroWindow[i] = true;
                Report(CaptureRules.ZeroWindow, flow,
                    $"{flow.Sender(dir).Endpoint} advertised a zero receive window to {flow.Receiver(dir).Endpoint}: it stopped accepting data.");
            }
        }
        else if (tcp.Window != 0)
        {
            extras.InZeroWindow[i] = false;
        }
    }

    private void Retransmitted(TcpFlow flow, FlowDirection dir, FlowExtras extras, int octets)
    {
        var b = extras.Bursts[(int)dir];
        if (b.Count > 0 && _ts - b.LastTs > Options.BurstWindow.Ticks * 100)
        {
            CloseBurst(flow, dir, b);
        }
        if (b.Count == 0)
        {
            b.FirstFrame = _frame;
            b.FirstTs = _ts;
        }
        b.Count++;
        b.Octets += octets;
        b.LastFrame = _frame;
        b.LastTs = _ts;
    }

    private void CloseBurst(TcpFlow flow, FlowDirection dir, Burst b)
    {
        if (b.Count >= Options.BurstThreshold)
        {
            Emit(CaptureRules.RetransmissionBurst, flow.Id,
                b.FirstFrame, $"{b.Count} segments ({b.Octets} octets) were retransmitted {flow.Describe(dir)} between frames {b.FirstFrame} and {b.LastFrame} ({(b.LastTs - b.FirstTs) / 1e6:0.###} ms).");
        }
        b.Count = 0;
        b.Octets = 0;
    }

    private void Icmp(ref ParsedPacket p)
    {
        var icmp = p.Icmp;
        if (icmp.Kind is IcmpErrorKind.ParameterProblem)
        {
            return;
        }
        TcpFlow? flow = null;
        if (icmp.HasQuotedPorts && icmp.QuotedProtocol == 6)
        {
            _byKey.TryGetValue(FlowKey.Of(icmp.QuotedSource, icmp.QuotedDestination), out flow);
        }
        var about = icmp.HasQuotedPorts ? $"{icmp.QuotedSource} → {icmp.QuotedDestination}" : $"{icmp.QuotedSource.Address} → {icmp.QuotedDestination.Address}";
        var what = $"{(icmp.IsIcmpV6 ? "ICMPv6" : "ICMP")} type {icmp.Type} code {icmp.Code} ({IcmpName(icmp)})";
        var tail = flow is null ? " No TCP flow in the capture matches the quoted packet." : "";
        var (rule, message) = icmp.Kind switch
        {
            IcmpErrorKind.AdminProhibited => (CaptureRules.IcmpAdminProhibited, $"{p.Source} sent {what} about {about}: a firewall rejected the packet.{tail}"),
            IcmpErrorKind.FragmentationNeeded => (CaptureRules.IcmpFragNeeded, $"{p.Source} sent {what} about {about}: packets must fit an MTU of {icmp.Mtu}.{tail}"),
            _ => (CaptureRules.IcmpUnreachable, $"{p.Source} sent {what} about {about}.{tail}"),
        };
        if (flow is null)
        {
            _findings.Report(rule.At(_frame, null, message));
        }
        else
        {
            Extras(flow).IcmpAnswered = true;
            Report(rule, flow, message);
        }
    }

    private static string IcmpName(IcmpError e) => (e.IsIcmpV6, e.Type, e.Code) switch
    {
        (false, 3, 0) => "network unreachable",
        (false, 3, 1) => "host unreachable",
        (false, 3, 2) => "protocol unreachable",
        (false, 3, 3) => "port unreachable",
        (false, 3, 4) => "fragmentation needed",
        (false, 3, 9) => "network administratively prohibited",
        (false, 3, 10) => "host administratively prohibited",
        (false, 3, 13) => "communication administratively prohibited",
        (false, 3, _) => "destination unreachable",
        (false, 11, _) => "time exceeded",
        (true, 1, 0) => "no route to destination",
        (true, 1, 1) => "communication administratively prohibited",
        (true, 1, 3) => "address unreachable",
        (true, 1, 4) => "port unreachable",
        (true, 1, 5) => "source address failed ingress/egress policy",
        (true, 1, 6) => "reject route to destination",
        (true, 1, _) => "destination unreachable",
        (true, 2, _) => "packet too big",
        (true, 3, _) => "time exceeded",
        _ => "error",
    };

    internal void ReportGap(TcpFlow flow, FlowDirection dir, uint seq, long length, GapReason reason, long frame)
    {
        if (reason == GapReason.Snaplen)
        {
            return;
        }
        var why = reason switch
        {
            GapReason.NotCaptured => "acknowledged by the receiver but never captured",
            GapReason.ReassemblyLimit => "still missing when the out-of-order limit was reached",
            _ => "never captured before the capture or connection ended",
        };
        var sender = flow.Sender(dir);
        var relative = sender.SynSeen ? $" (relative {seq - sender.InitialSequence})" : "";
        Emit(CaptureRules.Gap, flow.Id, frame, $"{length} octets {flow.Describe(dir)} from seq {seq}{relative} are missing: {why}.");
    }

    internal void ReportOverlapMismatch(TcpFlow flow, FlowDirection dir, uint seq, int length, long firstFrame, long frame)
    {
        var first = firstFrame > 0 ? $"frame {firstFrame}" : "the copy delivered earlier";
        Emit(CaptureRules.OverlapMismatch, flow.Id, frame,
            $"{length} octets {flow.Describe(dir)} at seq {seq} differ from {first}; the first copy was kept.");
    }

    internal void ReportLimit(TcpFlow flow, FlowDirection dir, long bytes, int segments, uint seq, long frame)
    {
        Emit(CaptureRules.ReassemblyLimit, flow.Id, frame,
            $"{bytes} octets in {segments} out-of-order segments {flow.Describe(dir)} waited for seq {seq} (limit {Options.MaxBufferedBytes} octets / {Options.MaxBufferedSegments} segments).");
    }

    internal void FinDelivered(TcpFlow flow, FlowDirection dir)
    {
        var other = flow.Streams[1 - (int)dir];
        if (other is not null && other.FinDelivered)
        {
            flow.State = TcpFlowState.Closed;
            Finish(flow);
        }
        else if (flow.State != TcpFlowState.Reset)
        {
            flow.State = TcpFlowState.Closing;
        }
    }

    private void Finish(TcpFlow flow)
    {
        if (flow.IsFinished)
        {
            return;
        }
        flow.IsFinished = true;
        if (flow.Extras is { } e)
        {
            for (var d = 0; d < 2; d++)
            {
                CloseBurst(flow, (FlowDirection)d, e.Bursts[d]);
            }
        }
        foreach (var s in flow.Streams)
        {
            s?.Release();
        }
        flow.Consumer?.OnEnd();
    }

    /// <summary>
    /// End of capture: flushes buffered data (holes become gaps), ends every consumer, and makes the findings
    /// that need the whole capture (unanswered SYNs, fragment and snaplen notes, suppressed counts).
    /// </summary>
    public void Complete()
    {
        if (_completed)
        {
            return;
        }
        _completed = true;
        foreach (var flow in _flows)
        {
            if (flow.IsFinished)
            {
                continue;
            }
            var client = flow.Client;
            if (flow.State == TcpFlowState.SynSent && client.SynSeen && !Extras(flow).IcmpAnswered)
            {
                var waited = (Counters.LastTimestampNanos - client.FirstSynTimestampNanos) / 1e9;
                _findings.Report(CaptureRules.SynUnanswered.At(client.FirstSynFrame, flow.Id,
                    $"{client.Endpoint} sent {client.SynCount} SYN{(client.SynCount == 1 ? "" : "s")} to {flow.Server.Endpoint}; no SYN-ACK or reset came back in the {waited:0.###} s until the capture ended{(waited < 1 ? " (a short wait: the capture may have stopped too soon)" : "")}."));
            }
            foreach (var s in flow.Streams)
            {
                s?.Flush(Counters.Packets, Counters.LastTimestampNanos);
            }
            Finish(flow);
        }
        if (_firstFragmentFrame != 0)
        {
            _findings.Report(CaptureRules.IpFragment.At(_firstFragmentFrame, null, $"{Counters.Fragments} IP fragments, the first in frame {_firstFragmentFrame}."));
        }
        if (_firstSnaplenFrame != 0)
        {
            _findings.Report(CaptureRules.SnaplenCut.At(_firstSnaplenFrame, null, $"{Counters.SnaplenCut} TCP segments lost payload to the snapshot length, the first in frame {_firstSnaplenFrame}."));
        }
        foreach (var ((flowId, rule), count) in _ruleCounts)
        {
            var max = Options.MaxFindingsPerRulePerFlow;
            if (count > max)
            {
                _findings.Report(new Finding(rule, FindingSeverity.Note, null, flowId,
                    $"{count - max} more '{rule}' findings in flow {flowId} were not listed ({count} in all).",
                    "See the listed ones; they share the cause."));
            }
        }
    }

    private void Report(FindingRule rule, TcpFlow flow, string message) => Emit(rule, flow.Id, _frame, message);

    /// <summary>Reports the finding unless this flow has had its share of this rule; the excess is counted for a closing note.</summary>
    private void Emit(FindingRule rule, int flow, long frame, string message)
    {
        var key = (flow, rule.Id);
        _ruleCounts.TryGetValue(key, out var n);
        _ruleCounts[key] = n + 1;
        if (n < Options.MaxFindingsPerRulePerFlow)
        {
            _findings.Report(rule.At(frame, flow, message));
        }
    }
}
