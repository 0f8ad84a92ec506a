namespace RdmaDiag.Capture;

/// <summary>Receives a packet chosen by <see cref="CaptureSelector"/>; <paramref name="data"/> is valid only during the call.</summary>
public delegate void SelectedPacket(long timestampNanos, int originalLength, ReadOnlySpan<byte> data);

/// <summary>
/// Decides which live packets belong in the capture. With ports: TCP to or from those ports, and ICMP errors
/// about them. Without: flows that look like iWARP — the first payload of the flow starts with the MPA
/// Request key "MPA ID Req Frame" (RFC 5044 §7.1). Until a flow's first payload shows, its packets (the
/// handshake) are held back, a few per flow, and written when the flow qualifies, so the file has the SYNs.
/// Flows already past their MPA Request when the capture starts are not recognised: use ports for those.
/// </summary>
public sealed class CaptureSelector
{
    /// <summary>"MPA ID Req Frame".</summary>
    public static ReadOnlySpan<byte> MpaRequestKey => "MPA ID Req Frame"u8;

    private readonly HashSet<int> _ports;
    private readonly int _maxHeld;
    private readonly Dictionary<FlowKey, FlowChoice> _flows = [];

    private sealed class FlowChoice
    {
        public bool? IsIwarp;
        public readonly Queue<(long Ts, int Original, byte[] Data)> Held = new();
    }

    public CaptureSelector(IReadOnlyCollection<int> ports, int maxHeldPerFlow = 16)
    {
        _ports = [.. ports];
        _maxHeld = maxHeldPerFlow;
    }

    /// <summary>Flows recognised as iWARP so far (heuristic mode).</summary>
    public int IwarpFlows { get; private set; }

    /// <summary>The BPF filter for these ports: TCP (all, or on the ports) plus ICMP/ICMPv6 errors that can explain a failure.</summary>
    public static string BuildFilter(IReadOnlyCollection<int> ports)
    {
        var tcp = ports.Count == 0 ? "tcp" : $"(tcp and ({string.Join(" or ", ports.Select(p => $"port {p}"))}))";
        return $"{tcp} or (icmp and icmp[icmptype] == icmp-unreach) or (icmp6 and ip6[40] <= 2)";
    }

    /// <summary>Hands <paramref name="emit"/> the packets to keep, in order: none, this one, or held ones and this one.</summary>
    public void Offer(in RawPacket packet, ref ParsedPacket parsed, SelectedPacket emit)
    {
        if (parsed.Kind == PacketKind.IcmpError)
        {
            var icmp = parsed.Icmp;
            if (icmp.HasQuotedPorts && Wanted(FlowKey.Of(icmp.QuotedSource, icmp.QuotedDestination), icmp.QuotedSource.Port, icmp.QuotedDestination.Port))
            {
                emit(packet.TimestampNanos, packet.OriginalLength, packet.Data);
            }
            return;
        }
        if (parsed.Kind != PacketKind.Tcp)
        {
            return;
        }
        var tcp = parsed.Tcp;
        if (_ports.Count > 0)
        {
            if (_ports.Contains(tcp.SourcePort) || _ports.Contains(tcp.DestinationPort))
            {
                emit(packet.TimestampNanos, packet.OriginalLength, packet.Data);
            }
            return;
        }
        var key = FlowKey.Of(parsed.TcpSource, parsed.TcpDestination);
        if (!_flows.TryGetValue(key, out var choice) || (tcp.Has(TcpFlags.Syn) && !tcp.Has(TcpFlags.Ack) && choice.IsIwarp == false))
        {
            choice = new FlowChoice();
            _flows[key] = choice;
        }
        switch (choice.IsIwarp)
        {
            case true:
                emit(packet.TimestampNanos, packet.OriginalLength, packet.Data);
                return;
            case false:
                return;
        }
        if (parsed.Payload.IsEmpty)
        {
            if (tcp.Has(TcpFlags.Rst) || tcp.Has(TcpFlags.Fin))
            {
                _flows.Remove(key);
                return;
            }
            if (choice.Held.Count == _maxHeld)
            {
                choice.Held.Dequeue();
            }
            choice.Held.Enqueue((packet.TimestampNanos, packet.OriginalLength, packet.Data.ToArray()));
            return;
        }
        choice.IsIwarp = parsed.Payload.StartsWith(MpaRequestKey);
        if (choice.IsIwarp == true)
        {
            IwarpFlows++;
            while (choice.Held.TryDequeue(out var held))
            {
                emit(held.Ts, held.Original, held.Data);
            }
            emit(packet.TimestampNanos, packet.OriginalLength, packet.Data);
        }
        choice.Held.Clear();
    }

    private bool Wanted(FlowKey key, int srcPort, int dstPort) =>
        _ports.Count > 0
            ? _ports.Contains(srcPort) || _ports.Contains(dstPort)
            : _flows.TryGetValue(key, out var c) && c.IsIwarp == true;

    /// <summary>Describes the selection for the file's comment and the start line.</summary>
    public string Describe() => _ports.Count > 0
        ? $"TCP on port{(_ports.Count == 1 ? "" : "s")} {string.Join(", ", _ports)}"
        : "TCP flows whose first payload is an MPA Request (\"MPA ID Req Frame\")";

}
