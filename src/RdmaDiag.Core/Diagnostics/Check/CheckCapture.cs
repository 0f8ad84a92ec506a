using System.Diagnostics;
using System.Net;
using RdmaDiag.Capture;
using RdmaDiag.Capture.Iwarp;
using RdmaDiag.Diagnostics.Findings;

namespace RdmaDiag.Diagnostics.Check;

/// <summary>
/// The live capture a check takes of its own traffic: TCP to and from the server's port and the ICMP errors
/// that can explain a failure, on every interface. A reader thread feeds the packets through the MPA/DDP/RDMAP
/// decoder (for findings) and notes, per connection, the moments and sizes the verdict rules weigh.
/// </summary>
internal sealed class CheckCapture : IDisposable
{
    private readonly LiveCapture _capture;
    private readonly Observer _observer;
    private readonly FindingList _findings = new();
    private readonly Thread _reader;
    private DecodeSummary? _summary;
    private Exception? _failure;

    private CheckCapture(LiveCapture capture, IPEndPoint target)
    {
        _capture = capture;
        _observer = new Observer(capture, target);
        _reader = new Thread(Read) { IsBackground = true, Name = "check-capture" };
        _reader.Start();
    }

    public const string Interface = "any";

    /// <summary>The BPF filter: the server's TCP port on the server's address, and ICMP/ICMPv6 errors.</summary>
    public static string Filter(IPEndPoint target) =>
        $"(tcp and host {target.Address} and port {target.Port}) or (icmp and icmp[icmptype] == icmp-unreach) or (icmp6 and ip6[40] <= 2)";

    /// <summary>
    /// Starts capturing, in the calling thread's network namespace. Returns null and the reason when libpcap
    /// is missing or capturing is not permitted.
    /// </summary>
    public static CheckCapture? TryStart(IPEndPoint target, out string? unavailable)
    {
        try
        {
            var capture = LiveCapture.Open(new LiveCaptureOptions { Interface = Interface, Filter = Filter(target), TimeoutMilliseconds = 20 });
            unavailable = null;
            return new CheckCapture(capture, target);
        }
        catch (Exception e) when (e is CaptureUnavailableException or UserInputException)
        {
            unavailable = e.Message;
            return null;
        }
    }

    private void Read()
    {
        try
        {
            _summary = new IwarpCaptureDecoder(_findings).Decode(_observer);
        }
        catch (Exception e) when (e is CaptureUnavailableException or IOException)
        {
            _failure = e;
        }
    }

    /// <summary>
    /// Stops once the capture has been quiet for one read timeout (so packets already on their way are kept),
    /// at most after <paramref name="drain"/>, and returns what it saw.
    /// </summary>
    public CaptureEvidence Stop(TimeSpan drain)
    {
        _observer.Drain(drain);
        if (!_reader.Join(drain + TimeSpan.FromSeconds(2)))
        {
            _capture.Stop();
            _reader.Join(TimeSpan.FromSeconds(2));
        }
        var statistics = _capture.GetStatistics();
        var ours = new HashSet<int>(_summary?.Flows.Where(f => f.Tcp.Server.Endpoint.Port == _observer.Target.Port).Select(f => f.Id) ?? []);
        var findings = _findings.Items
            .Where(f => f.Flow is int id ? ours.Contains(id) : !f.RuleId.StartsWith("icmp-", StringComparison.Ordinal))
            .ToList();
        if (_failure is not null)
        {
            findings.Add(new Finding("capture-failed", FindingSeverity.Warning, null, null,
                $"the live capture stopped early: {_failure.Message}", "The verdict rests on the endpoint's own evidence; rerun to capture again."));
        }
        return new CaptureEvidence
        {
            Interface = Interface,
            Packets = _observer.Packets,
            Flows = _observer.Flows(_summary),
            Icmp = _observer.Icmp,
            Findings = findings,
            KernelDrops = statistics.DroppedByKernel,
        };
    }

    public void Dispose()
    {
        _capture.Stop();
        _reader.Join(TimeSpan.FromSeconds(2));
        _capture.Dispose();
    }

    /// <summary>
    /// A packet source over the live capture that waits out read timeouts (the decoder reads until End) and
    /// records the per-connection facts the decoder does not keep: SYN, SYN-ACK and first-data moments,
    /// TTLs, resets, retransmitted sizes, and ICMP errors with their sender.
    /// </summary>
    private sealed class Observer(LiveCapture capture, IPEndPoint target) : IPacketSource
    {
        private readonly NetAddress _server = NetAddress.From(target.Address);
        private readonly Dictionary<int, FlowState> _flows = [];
        private readonly List<IcmpEvidence> _icmp = [];
        private readonly object _lock = new();
        private long _drainDeadline;
        private volatile bool _draining;

        public IPEndPoint Target { get; } = target;

        public long Packets { get; private set; }

        public IReadOnlyList<IcmpEvidence> Icmp
        {
            get
            {
                lock (_lock)
                {
                    return [.. _icmp];
                }
            }
        }

        public void Drain(TimeSpan limit)
        {
            _drainDeadline = Stopwatch.GetTimestamp() + (long)(limit.TotalSeconds * Stopwatch.Frequency);
            _draining = true;
        }

        public PacketReadResult Read(out RawPacket packet)
        {
            while (true)
            {
                PacketReadResult result = capture.Read(out packet);
                if (result == PacketReadResult.Packet)
                {
                    Packets++;
                    Observe(packet);
                    if (!_draining || Stopwatch.GetTimestamp() < _drainDeadline)
                    {
                        return result;
                    }
                    // Past the drain limit under steady traffic: keep this packet, end at the next read.
                    capture.Stop();
                    return result;
                }
                if (result == PacketReadResult.End || _draining)
                {
                    return PacketReadResult.End;
                }
            }
        }

        private void Observe(in RawPacket raw)
        {
            var p = PacketParser.Parse(raw.LinkType, raw.Data);
            if (p.Kind == PacketKind.IcmpError)
            {
                var icmp = p.Icmp;
                if (icmp.HasQuotedPorts && icmp.QuotedProtocol == 6 && icmp.QuotedDestination.Address == _server && icmp.QuotedDestination.Port == Target.Port)
                {
                    lock (_lock)
                    {
                        _icmp.Add(new IcmpEvidence(p.Source.ToIPAddress(), icmp.IsIcmpV6, icmp.Type, icmp.Code, icmp.Kind, icmp.Mtu, icmp.QuotedSource.Port, raw.TimestampNanos));
                    }
                }
                return;
            }
            if (p.Kind != PacketKind.Tcp)
            {
                return;
            }
            var tcp = p.Tcp;
            bool fromServer = p.Source == _server && tcp.SourcePort == Target.Port;
            int clientPort = fromServer ? tcp.DestinationPort : tcp.SourcePort;
            lock (_lock)
            {
                if (!_flows.TryGetValue(clientPort, out FlowState? flow))
                {
                    flow = _flows[clientPort] = new FlowState(clientPort, _flows.Count);
                }
                flow.Observe(ref p, fromServer, raw.TimestampNanos);
            }
        }

        /// <summary>The connections seen, ordered by first packet, with the decoder's counts merged in.</summary>
        public IReadOnlyList<FlowEvidence> Flows(DecodeSummary? summary)
        {
            lock (_lock)
            {
                return _flows.Values.OrderBy(f => f.Order).Select(f =>
                {
                    var tcp = summary?.Flows.LastOrDefault(i => i.Tcp.Client.Endpoint.Port == f.ClientPort && i.Tcp.Server.Endpoint.Port == Target.Port)?.Tcp;
                    return f.ToEvidence(tcp);
                }).ToList();
            }
        }

        public void Dispose() => capture.Dispose();
    }

    private sealed class FlowState(int clientPort, int order)
    {
        public readonly int ClientPort = clientPort;
        public readonly int Order = order;
        private int _synCount;
        private long? _firstSyn, _synAck, _clientData, _serverData, _rst;
        private int? _serverTtl, _rstTtl;
        private bool _rstFromServer;
        private long _clientOctets, _serverOctets;
        private int _largestRetransmission, _clientMss, _serverMss;
        private long _retransmissions;
        private uint _clientNext;
        private bool _clientNextKnown;

        public void Observe(ref ParsedPacket p, bool fromServer, long ts)
        {
            var tcp = p.Tcp;
            bool syn = tcp.Has(TcpFlags.Syn);
            if (tcp.Has(TcpFlags.Rst))
            {
                _rst ??= ts;
                _rstFromServer = fromServer;
                _rstTtl = p.HopLimit;
                return;
            }
            if (fromServer)
            {
                _serverTtl = p.HopLimit;
                if (syn)
                {
                    _synAck ??= ts;
                    _serverMss = tcp.Mss;
                }
                if (p.PayloadLength > 0)
                {
                    _serverData ??= ts;
                    _serverOctets += p.PayloadLength;
                }
                return;
            }
            if (syn)
            {
                _synCount++;
                _firstSyn ??= ts;
                _clientMss = tcp.Mss;
                _clientNext = tcp.Sequence + 1;
                _clientNextKnown = true;
                return;
            }
            if (p.PayloadLength == 0)
            {
                return;
            }
            _clientData ??= ts;
            _clientOctets += p.PayloadLength;
            uint end = tcp.Sequence + (uint)p.PayloadLength;
            if (_clientNextKnown && (int)(end - _clientNext) <= 0)
            {
                _retransmissions++;
                _largestRetransmission = Math.Max(_largestRetransmission, p.PayloadLength);
            }
            else
            {
                _clientNext = end;
                _clientNextKnown = true;
            }
        }

        public FlowEvidence ToEvidence(TcpFlow? tcp) => new()
        {
            ClientPort = ClientPort,
            SynCount = _synCount,
            FirstSynNanos = _firstSyn,
            SynAckNanos = _synAck,
            FirstClientDataNanos = _clientData,
            FirstServerDataNanos = _serverData,
            ServerTtl = _serverTtl,
            RstNanos = _rst,
            RstFromServer = _rstFromServer,
            RstTtl = _rstTtl,
            ClientPayloadOctets = _clientOctets,
            ServerPayloadOctets = _serverOctets,
            ClientRetransmissions = tcp?.Client.Retransmissions ?? _retransmissions,
            LargestClientRetransmission = _largestRetransmission,
            ClientMss = _clientMss,
            ServerMss = _serverMss,
        };
    }
}

/// <summary>Names of the ICMP errors a check can meet, as the RFCs name them.</summary>
internal static class IcmpNames
{
    private static readonly Dictionary<(bool V6, byte Type, byte Code), string> Names = new()
    {
        [(false, 3, 0)] = "network unreachable",
        [(false, 3, 1)] = "host unreachable",
        [(false, 3, 2)] = "protocol unreachable",
        [(false, 3, 3)] = "port unreachable",
        [(false, 3, 4)] = "fragmentation needed",
        [(false, 3, 6)] = "destination network unknown",
        [(false, 3, 7)] = "destination host unknown",
        [(false, 3, 9)] = "network administratively prohibited",
        [(false, 3, 10)] = "host administratively prohibited",
        [(false, 3, 13)] = "communication administratively prohibited",
        [(true, 1, 0)] = "no route to destination",
        [(true, 1, 1)] = "communication administratively prohibited",
        [(true, 1, 3)] = "address unreachable",
        [(true, 1, 4)] = "port unreachable",
        [(true, 1, 5)] = "source address failed ingress/egress policy",
        [(true, 1, 6)] = "reject route to destination",
        [(true, 2, 0)] = "packet too big",
    };

    public static string Describe(bool v6, byte type, byte code) =>
        Names.GetValueOrDefault((v6, type, code)) ?? (type == (v6 ? 1 : 3) ? "destination unreachable" : "error");
}
