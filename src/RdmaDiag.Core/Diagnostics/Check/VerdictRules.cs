using System.Globalization;
using System.Net;
using System.Net.Sockets;
using RdmaDiag.Capture;
using RdmaDiag.Capture.Iwarp;
using RdmaDiag.Endpoint;
using RdmaDiag.Wire.Mpa;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Diagnostics.Check;

/// <summary>Where the evidence places the device that blocked the connection.</summary>
public enum FirewallSide : byte
{
    /// <summary>This host (its output or input chain, its own reject).</summary>
    Local,
    /// <summary>The server itself.</summary>
    Server,
    /// <summary>A router or middlebox between the hosts.</summary>
    Path,
    /// <summary>The server or the path; silence cannot tell which.</summary>
    Remote,
    /// <summary>No evidence either way (no capture).</summary>
    Unknown,
}

/// <summary>The one verdict of a check: the cause, a plain sentence with the numbers, the fix, and for firewall-like causes the side.</summary>
public sealed record CheckVerdict(CheckCause Cause, string Sentence, string Fix, FirewallSide? Side = null)
{
    public static string SideName(FirewallSide side) => side.ToString().ToLowerInvariant();
}

/// <summary>
/// Turns what the stages observed into one verdict. Pure: no I/O, so every rule is tested from synthetic
/// observations. The first failure in stage order decides the cause; the capture (when there is one)
/// sharpens it — which ICMP error, who sent a reset, whether an answer reached this host.
/// </summary>
public static class VerdictRules
{
    public static CheckVerdict Decide(CheckObservations o)
    {
        CheckVerdict verdict = o.RouteFailure is { } route ? NoRoute(o, route)
            : o.SetupError is { Phase: ConnectionPhase.TcpConnect } tcp ? TcpFailure(o, tcp)
            : o.SetupError is { } setup ? SetupFailure(o, setup)
            : o.Failure is { } failure ? TransferFailure(o, failure)
            : Works(o);
        return WithHardwareNote(o, verdict);
    }

    private static string Target(CheckObservations o) => Format(o.Target);

    private static string Format(IPEndPoint endpoint) =>
        endpoint.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{endpoint.Address}]:{endpoint.Port}" : $"{endpoint.Address}:{endpoint.Port}";

    private static string Ms(double milliseconds) => milliseconds.ToString(milliseconds < 10 ? "0.##" : "0", CultureInfo.InvariantCulture);

    private static string Seconds(TimeSpan? span) => span is { } s ? s.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture) : "?";

    // ---- route ----

    private static CheckVerdict NoRoute(CheckObservations o, Check.Route.RouteFailure failure)
    {
        string? kind = failure.Reason.Contains("blackhole", StringComparison.Ordinal) ? "blackhole"
            : failure.Reason.Contains("prohibit", StringComparison.Ordinal) ? "prohibit"
            : failure.Reason.Contains("unreachable route", StringComparison.Ordinal) ? "unreachable" : null;
        string fix = kind is null
            ? $"Add a route to {o.Target.Address} (ip route add {o.Target.Address} via GATEWAY, or a default route) or check the address; `ip route get {o.Target.Address}` shows the same answer."
            : $"A {kind} route covers {o.Target.Address}: remove or narrow it (ip route show table all type {kind}) if traffic to the server should flow.";
        return new CheckVerdict(CheckCauses.NoRoute,
            $"This host has no route to {o.Target.Address}: the kernel's route lookup (as ip route get) answers {failure.Reason} ({ErrnoText(failure.Errno)}).",
            fix, FirewallSide.Local);
    }

    private static string ErrnoText(int errno) => $"{System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(errno)}, errno {errno}";

    // ---- TCP connect ----

    private static CheckVerdict TcpFailure(CheckObservations o, IwarpException e)
    {
        FlowEvidence? flow = o.Capture?.Flow(null);
        IcmpEvidence? icmp = o.Capture?.IcmpAbout(flow?.ClientPort).FirstOrDefault(i => i.Kind != IcmpErrorKind.FragmentationNeeded);
        if (icmp is not null && e.Kind is IwarpErrorKind.TcpRefused or IwarpErrorKind.TcpUnreachable or IwarpErrorKind.TcpError)
        {
            return Icmp(o, icmp, flow);
        }
        return e.Kind switch
        {
            IwarpErrorKind.TcpRefused => Refused(o, flow),
            IwarpErrorKind.TcpTimeout => Filtered(o, e, flow),
            IwarpErrorKind.TcpUnreachable => Unreachable(o, e),
            _ when e.SocketError is SocketError.AccessDenied => new CheckVerdict(CheckCauses.TcpFiltered,
                $"This host's own firewall blocked the connection request to {Target(o)}: connect() failed at once with '{e.InnerException?.Message ?? e.Message}' (EPERM), which is what a drop rule in the output chain gives locally generated packets.",
                $"Allow TCP to {Target(o)} in this host's output chain (nft list ruleset; iptables -S OUTPUT).", FirewallSide.Local),
            _ => new CheckVerdict(CheckCauses.NoRoute,
                $"This host could not send to {Target(o)}: {e.Message}.",
                "Check the interface and addresses of the route (ip route get, ip addr): it must be up and have a source address.", FirewallSide.Local),
        };
    }

    private static CheckVerdict Icmp(CheckObservations o, IcmpEvidence icmp, FlowEvidence? flow)
    {
        FirewallSide side = o.IsLocal(icmp.Sender) ? FirewallSide.Local
            : icmp.Sender.Equals(o.Target.Address) ? FirewallSide.Server
            : FirewallSide.Path;
        string who = side switch
        {
            FirewallSide.Local => $"this host ({icmp.Sender}, a local address)",
            FirewallSide.Server => $"the server {icmp.Sender}",
            _ => $"the router {icmp.Sender} on the path",
        };
        string after = flow?.FirstSynNanos is { } syn ? $" {Ms((icmp.TimestampNanos - syn) / 1e6)} ms after the SYN" : "";
        bool synLeft = flow is { SynCount: > 0 };
        string sentence = $"{Capitalize(who)} answered the connection request to {Target(o)} with {icmp.What}{after}";
        string fix;
        switch (icmp.Kind)
        {
            case IcmpErrorKind.AdminProhibited:
                sentence += side == FirewallSide.Local && !synLeft
                    ? ": this host's own firewall rejects it (the SYN never left this host)."
                    : $": a firewall rule there rejects TCP port {o.Target.Port}.";
                fix = $"Open TCP port {o.Target.Port} to {o.Target.Address} in the firewall of {who} (nft list ruleset there; the rule ends in reject with icmp type admin-prohibited).";
                break;
            case IcmpErrorKind.Unreachable when icmp.Name == "port unreachable":
                sentence += $": a reject rule there refuses port {o.Target.Port} (a closed TCP port answers with a reset instead).";
                fix = $"Remove the rule that rejects TCP port {o.Target.Port} in the firewall of {who} (nft reject, iptables REJECT with icmp-port-unreachable).";
                break;
            default:
                sentence += side == FirewallSide.Path
                    ? $": that router cannot or will not deliver to {o.Target.Address} (a reject rule on it, or the server is down or unrouted behind it)."
                    : ".";
                fix = $"Check the route from {icmp.Sender} to {o.Target.Address} and that the server is up; if a firewall there rejects with {icmp.Name}, open TCP port {o.Target.Port} in it.";
                break;
        }
        return new CheckVerdict(CheckCauses.IcmpUnreachable, sentence, fix, side);
    }

    private static CheckVerdict Refused(CheckObservations o, FlowEvidence? flow)
    {
        if (o.Capture is null)
        {
            return new CheckVerdict(CheckCauses.TcpRefused,
                $"The connection to {Target(o)} was refused (ECONNREFUSED): a TCP reset, or an ICMP port-unreachable from a firewall; a capture would tell which ({o.CaptureUnavailable}).",
                CheckCauses.TcpRefused.Fix, FirewallSide.Unknown);
        }
        if (flow is { SynCount: 0, RstNanos: not null })
        {
            return new CheckVerdict(CheckCauses.TcpRefused,
                $"This host's own firewall rejected the connection to {Target(o)} with a reset: the SYN never left this host (it is not in the capture) and the reset came back at once.",
                $"Remove the reject rule for {Target(o)} in this host's output chain (nft list ruleset; iptables -S OUTPUT).", FirewallSide.Local);
        }
        string after = flow is { RstNanos: { } rst, FirstSynNanos: { } syn } ? $" {Ms((rst - syn) / 1e6)} ms later" : "";
        (FirewallSide side, string origin) = ResetOrigin(o, flow);
        return new CheckVerdict(CheckCauses.TcpRefused,
            $"{o.Target.Address} answered the connection request (SYN) with a reset{after}: nothing listens on port {o.Target.Port} there, or a firewall rejects it with tcp-reset{origin}.",
            side == FirewallSide.Path
                ? $"Remove the reject-with-tcp-reset rule for port {o.Target.Port} on the router between this host and {o.Target.Address}."
                : CheckCauses.TcpRefused.Fix,
            side);
    }

    /// <summary>
    /// Who sent a reset, from its TTL: the server's own packets set the baseline when there are any; otherwise
    /// a reset that arrives with an initial TTL (zero hops) over a gatewayed route came from the first router.
    /// </summary>
    private static (FirewallSide Side, string Text) ResetOrigin(CheckObservations o, FlowEvidence? flow)
    {
        if (flow is not { RstFromServer: true, RstTtl: { } rstTtl })
        {
            return (FirewallSide.Server, "");
        }
        if (flow.ServerTtl is { } serverTtl)
        {
            return rstTtl == serverTtl
                ? (FirewallSide.Server, $"; the reset carries the TTL of the server's own packets ({rstTtl}), so the server (or a device at its distance) sent it")
                : (FirewallSide.Path, $"; the reset arrived with TTL {rstTtl} but the server's packets arrive with TTL {serverTtl}: a device {Math.Abs(rstTtl - serverTtl)} hop(s) {(rstTtl > serverTtl ? "nearer" : "farther")} than the server forged it in the server's name");
        }
        if (o.Route?.Gateway is not null && Hops(rstTtl) == 0)
        {
            return (FirewallSide.Path, $"; the reset arrived with TTL {rstTtl}, zero hops away, but the server is behind the router {o.Route.Gateway}: that router (or a firewall on it) sent it in the server's name");
        }
        return (FirewallSide.Server, $"; the reset's TTL {rstTtl} fits the server's distance");
    }

    /// <summary>Hops a packet travelled, from the usual initial TTLs 64, 128 and 255.</summary>
    private static int Hops(int ttl) => (ttl <= 64 ? 64 : ttl <= 128 ? 128 : 255) - ttl;

    private static CheckVerdict Filtered(CheckObservations o, IwarpException e, FlowEvidence? flow)
    {
        string waited = Seconds(e.Waited);
        if (o.Capture is null)
        {
            return new CheckVerdict(CheckCauses.TcpFiltered,
                $"Nothing answered the connection request to {Target(o)} within {waited} s: a firewall drops the SYN (on this host, the path or the server) or the host is down; a capture would show whether an answer reaches this host ({o.CaptureUnavailable}).",
                CheckCauses.TcpFiltered.Fix, FirewallSide.Unknown);
        }
        if (flow is { SynAckNanos: not null })
        {
            return new CheckVerdict(CheckCauses.TcpFiltered,
                $"The server answered (its SYN-ACK reached this host's interface) but the handshake never completed within {waited} s: this host's own firewall (input chain) drops the server's answer.",
                $"Allow TCP from {Target(o)} in this host's input chain (nft list ruleset; e.g. ct state established,related accept).", FirewallSide.Local);
        }
        if (flow is not { SynCount: > 0 })
        {
            return new CheckVerdict(CheckCauses.TcpFiltered,
                $"Nothing answered the connection request to {Target(o)} within {waited} s, and no SYN showed in the capture on any interface: something on this host holds the packets before they leave (a traffic-control or firewall rule).",
                $"Look at this host's egress path for {Target(o)}: nft list ruleset, tc qdisc show, ip rule.", FirewallSide.Local);
        }
        return new CheckVerdict(CheckCauses.TcpFiltered,
            $"{flow.SynCount} SYN{(flow.SynCount == 1 ? "" : "s")} to {Target(o)} left this host over {waited} s and nothing came back (no SYN-ACK, no reset, no ICMP error): a firewall on the server or on the path drops them; silence cannot say which of the two (a reject rule would name itself with an ICMP error).",
            $"Allow TCP port {o.Target.Port} on the server's firewall (nft list ruleset there) and on every firewall between this host and {o.Target.Address}; check the server is up.",
            FirewallSide.Remote);
    }

    private static CheckVerdict Unreachable(CheckObservations o, IwarpException e)
    {
        if (o.NextHopState == "incomplete" && o.Route is { } route)
        {
            return new CheckVerdict(CheckCauses.NoRoute,
                $"The next hop {route.NextHop} on {route.Interface} does not answer ARP (the neighbour entry stays incomplete), so the connection request to {Target(o)} never left this host ({e.Message}).",
                $"Check that {route.NextHop} is up and on the same link as {route.Interface} (ip neigh show {route.NextHop}; the cable, VLAN or bridge), or correct the route.",
                FirewallSide.Local);
        }
        string capture = o.Capture is null ? $"; a capture would name the sender ({o.CaptureUnavailable})" : "; the capture saw no ICMP error, so this host decided it (a local reject route or rule)";
        return new CheckVerdict(CheckCauses.IcmpUnreachable,
            $"The connection to {Target(o)} failed with '{e.InnerException?.Message ?? e.Message}': an ICMP destination-unreachable came back, or the next hop could not be reached{capture}.",
            CheckCauses.IcmpUnreachable.Fix, o.Capture is null ? FirewallSide.Unknown : FirewallSide.Local);
    }

    // ---- MPA exchange ----

    private static CheckVerdict SetupFailure(CheckObservations o, IwarpException e)
    {
        string t = Target(o);
        switch (e.Kind)
        {
            case IwarpErrorKind.NotMpa:
                return new CheckVerdict(CheckCauses.NotIwarp,
                    $"{t} accepted TCP but answered the MPA Request with {e.BytesReceived} octet(s) of {GuessProtocol(e.FirstBytes.Span)}: {e.FirstBytesText}. Another program listens on that port, not an iWARP listener.",
                    CheckCauses.NotIwarp.Fix);
            case IwarpErrorKind.HandshakeTimeout when e.FirstBytes.Length > 0 && LooksLikeMpaReply(e.FirstBytes.Span):
                return new CheckVerdict(CheckCauses.MpaInvalid,
                    $"{t} began an MPA Reply but did not finish it within {Seconds(e.Waited)} s: {e.Message}.", CheckCauses.MpaInvalid.Fix);
            case IwarpErrorKind.HandshakeTimeout:
                return new CheckVerdict(CheckCauses.NotIwarp,
                    e.BytesReceived == 0
                        ? $"{t} accepted TCP but sent nothing in the {Seconds(e.Waited)} s after the MPA Request: the program there does not speak MPA (a plain TCP server, a proxy), or its iWARP application never accepted or rejected the connection."
                        : $"{t} accepted TCP but answered the MPA Request with {e.BytesReceived} octet(s) that are no MPA Reply ({GuessProtocol(e.FirstBytes.Span)}): {e.FirstBytesText}.",
                    CheckCauses.NotIwarp.Fix);
            case IwarpErrorKind.ConnectionClosed or IwarpErrorKind.ConnectionReset or IwarpErrorKind.ClosedMidMessage:
                return ClosedDuringSetup(o, e);
            case IwarpErrorKind.MalformedStartFrame:
                return new CheckVerdict(CheckCauses.MpaInvalid, $"{t}'s MPA Reply is invalid: {e.Message}.", CheckCauses.MpaInvalid.Fix);
            case IwarpErrorKind.MpaRejected:
                return Rejected(o, e);
            case IwarpErrorKind.RevisionIncompatible:
                return new CheckVerdict(CheckCauses.MpaRevision, $"{t} and this side cannot agree on an MPA revision: {e.Message}.", CheckCauses.MpaRevision.Fix);
            case IwarpErrorKind.MarkersNotSupported:
                return new CheckVerdict(CheckCauses.MpaMarkers,
                    o.Setup.RequestMarkers
                        ? $"This side asked {t} to insert MPA markers (--markers, M=1) and it refused: {e.Message}."
                        : $"{t} demands MPA markers (M=1) that this side is set not to insert: {e.Message}.",
                    o.Setup.RequestMarkers ? "Run check without --markers (markers are rarely needed; Linux siw has none), or enable markers on the server (cxgb4 markers_enabled=1)." : CheckCauses.MpaMarkers.Fix);
            case IwarpErrorKind.CrcPolicyConflict:
                return new CheckVerdict(CheckCauses.MpaCrc, $"The CRC policies of this side (--crc {IwarpSetupOptions.FormatCrc(o.Setup.Crc)}) and {t} conflict: {e.Message}.", CheckCauses.MpaCrc.Fix);
            case IwarpErrorKind.NoMatchingRtr:
                return new CheckVerdict(CheckCauses.MpaRtr, $"Peer-to-peer setup with {t} failed: {e.Message}.", CheckCauses.MpaRtr.Fix);
            case IwarpErrorKind.InsufficientIrd:
                return new CheckVerdict(CheckCauses.MpaIrdOrd, $"IRD/ORD negotiation with {t} failed: {e.Message}.", CheckCauses.MpaIrdOrd.Fix);
            default:
                return TransferFailure(o, new OperationFailure("the RTR", 0, StageNames.MpaExchange, e, e.Message));
        }
    }

    private static CheckVerdict ClosedDuringSetup(CheckObservations o, IwarpException e)
    {
        string how = e.Kind == IwarpErrorKind.ConnectionReset ? "reset" : "closed";
        if (o.RevisionOneAnswered == true)
        {
            return new CheckVerdict(CheckCauses.MpaRevision,
                $"{Target(o)} {how} the connection on this side's MPA Rev 2 (RFC 6581) Request but answered a Rev 1 Request: it is a responder without RFC 6581 support.",
                "Run check with --mpa-rev 1 and configure initiators for MPA Rev 1 (siw: mpa_version=1); cxgb4 initiators retry with Rev 1 by themselves.");
        }
        string retry = o.RevisionOneAnswered == false ? $"; a retry with an MPA Rev 1 Request was not answered either ({o.RevisionRetryDetail})" : "";
        string got = e.BytesReceived > 0 ? $" after {e.BytesReceived} octet(s): {e.FirstBytesText}" : " without sending a single octet";
        return new CheckVerdict(CheckCauses.NotIwarp,
            $"{Target(o)} accepted TCP, then {how} it{got} in answer to the MPA Request{retry}: no iWARP listener answers on that port, or it refused this Request without an MPA Reply.",
            CheckCauses.NotIwarp.Fix);
    }

    private static CheckVerdict Rejected(CheckObservations o, IwarpException e)
    {
        string pd = e.PeerPrivateData.IsEmpty ? "no private data" : $"{e.PeerPrivateData.Length} octet(s) of private data: {IwarpException.FormatBytes(e.PeerPrivateData.Span)}";
        if (e.PeerFrame is { V2Block: { } block } && block.Ird != MpaV2Block.NoNegotiation && block.Ird < o.Setup.Ord)
        {
            return new CheckVerdict(CheckCauses.MpaIrdOrd,
                $"{Target(o)} rejected the MPA Request (R=1) and its Reply's RFC 6581 block offers IRD {block.Ird}, below this side's ORD {o.Setup.Ord}: it cannot hold the RDMA Reads this side would issue at once ({pd}).",
                $"Raise the server's IRD to at least {o.Setup.Ord} (serve --ird; rdma_conn_param responder_resources), allow relaxed IRD/ORD negotiation there, or lower this side's ORD (check --ord {block.Ird}).");
        }
        return new CheckVerdict(CheckCauses.MpaRejected, $"{Target(o)} rejected the MPA Request (Reply with R=1) with {pd}.", CheckCauses.MpaRejected.Fix);
    }

    private static bool LooksLikeMpaReply(ReadOnlySpan<byte> bytes)
    {
        ReadOnlySpan<byte> key = "MPA ID Rep Frame"u8;
        int n = Math.Min(bytes.Length, key.Length);
        return n > 0 && bytes[..n].SequenceEqual(key[..n]);
    }

    private static string GuessProtocol(ReadOnlySpan<byte> bytes) => bytes switch
    {
        _ when bytes.StartsWith("SSH-"u8) => "an SSH banner",
        _ when bytes.StartsWith("HTTP/"u8) => "an HTTP response",
        [0x16, 0x03, ..] or [0x15, 0x03, ..] => "TLS",
        _ when bytes.StartsWith("220"u8) => "an SMTP or FTP greeting",
        _ when bytes.StartsWith("MPA ID Req Frame"u8) => "an MPA Request (the server acts as initiator too)",
        _ when bytes.ToArray().All(b => b is >= 0x20 and < 0x7F or (byte)'\r' or (byte)'\n' or (byte)'\t') => "text",
        _ => "another protocol",
    };

    // ---- full operation ----

    private static CheckVerdict TransferFailure(CheckObservations o, OperationFailure failure)
    {
        string t = Target(o);
        string what = failure.Size > 0 ? $"the {failure.Operation} of {failure.Size} octets" : failure.Operation;
        if (failure.NotProbeServer)
        {
            return new CheckVerdict(CheckCauses.ProbeUnsupported,
                $"The iWARP connection to {t} came up (MPA rev {o.Parameters?.ReplyRevision}), but {failure.Detail}: the server is not `rdmadiag serve --soft`, so RDMA operations could not be verified.",
                CheckCauses.ProbeUnsupported.Fix);
        }
        if (failure.Error is not { } e)
        {
            return new CheckVerdict(CheckCauses.Corrupt, $"{Capitalize(what)} to {t} completed but the data came back altered: {failure.Detail}.", CheckCauses.Corrupt.Fix);
        }
        switch (e.Kind)
        {
            case IwarpErrorKind.Stall:
                return Stalled(o, failure, e, what);
            case IwarpErrorKind.ConnectionReset:
                (FirewallSide side, string origin) = ResetOrigin(o, o.Capture?.Flow(o.ClientPort));
                return new CheckVerdict(CheckCauses.Reset,
                    $"The connection to {t} was reset during {what}{Octets(o)}{origin}.",
                    side == FirewallSide.Path ? "Find the firewall between the hosts whose rule rejects this traffic with tcp-reset (a byte, rate or idle limit), and remove or raise it." : CheckCauses.Reset.Fix,
                    side);
            case IwarpErrorKind.ConnectionClosed or IwarpErrorKind.ClosedMidMessage:
                return new CheckVerdict(CheckCauses.PeerClosed, $"{t} closed the connection during {what}: {e.Message}.", CheckCauses.PeerClosed.Fix);
            case IwarpErrorKind.CrcError:
                return new CheckVerdict(CheckCauses.Corrupt, $"An FPDU failed its CRC32c check during {what} ({(e.DetectedBy == ErrorSource.Peer ? "the server found it in ours" : "this side found it in the server's")}): {e.Message}.", CheckCauses.Corrupt.Fix);
            case IwarpErrorKind.NoMatchingRtr:
                return new CheckVerdict(CheckCauses.MpaRtr, $"Peer-to-peer setup with {t} failed: {e.Message}.", CheckCauses.MpaRtr.Fix);
            case IwarpErrorKind.InsufficientIrd:
                return new CheckVerdict(CheckCauses.MpaIrdOrd, $"IRD/ORD with {t} do not fit: {e.Message}.", CheckCauses.MpaIrdOrd.Fix);
            case IwarpErrorKind.LocalResourceLimit when o.Parameters is { Ord: 0 }:
                return OrdZero(o);
            case IwarpErrorKind.TerminateReceived or IwarpErrorKind.TerminateSent:
                return Terminated(o, failure, e, what);
            default:
                return new CheckVerdict(CheckCauses.Stall, $"{Capitalize(what)} to {t} failed: {e.Message}.", CheckCauses.Stall.Fix);
        }
    }

    private static string Octets(CheckObservations o) =>
        o.Capture?.Flow(o.ClientPort) is { } flow ? $" after {flow.ClientPayloadOctets} octets sent and {flow.ServerPayloadOctets} received" : "";

    private static CheckVerdict Terminated(CheckObservations o, OperationFailure failure, IwarpException e, string what)
    {
        string who = e.Kind == IwarpErrorKind.TerminateReceived ? o.Target.Address.ToString() : "This side";
        string decoded = e.Terminate is { } term
            ? $"Terminate layer {term.Layer} ({term.LayerValue}), type {term.EType}, code 0x{term.ErrorCode:X2} ({term.Error.Name}): {term.Error.Description}"
              + (term.CopiedDdpHeader is { } copied ? $"; it names this side's {RdmapOpcodes.GetSpecName(new RdmapControl(copied.RdmapControl).Opcode)}" : "")
              + (term.SiwBitfieldLayout ? " (sent in Linux siw's little-endian bitfield layout)" : "")
            : e.Message;
        string hint = failure.Operation == "hello" && e.Terminate is { Layer: TerminateLayer.Ddp }
            ? $" If {Target(o)} is not `rdmadiag serve --soft` (rping, an application), its receive buffers may be smaller than the 64-octet probe HELLO; check against serve --soft to verify RDMA operations."
            : "";
        return new CheckVerdict(CheckCauses.Terminate,
            $"{Capitalize(who)} terminated the RDMAP stream during {what} with {decoded}.{hint}",
            e.Terminate is { } t ? TerminateAdvice.For(t.Error) : CheckCauses.Terminate.Fix);
    }

    private static CheckVerdict OrdZero(CheckObservations o) => new(CheckCauses.MpaIrdOrd,
        $"{Target(o)} offered IRD {o.Parameters?.PeerIrd?.ToString(CultureInfo.InvariantCulture) ?? "0"} in its MPA Reply, so after IRD/ORD negotiation this side's ORD is 0 and it may not issue RDMA Reads; Sends and Writes were {(o.Operations.Any(r => r.Verified) ? "verified" : "not run")}.",
        $"Give the server an IRD of at least 1 (serve --ird N; rdma_conn_param responder_resources) so the initiator may read.");

    private static CheckVerdict Stalled(CheckObservations o, OperationFailure failure, IwarpException e, string what)
    {
        string t = Target(o);
        bool smallWorked = o.Operations.Any(r => r.Verified && r.Size <= CheckOptions.SmallSizeLimit);
        IcmpEvidence? fragNeeded = o.Capture?.Icmp.FirstOrDefault(i => i.Kind == IcmpErrorKind.FragmentationNeeded);
        FlowEvidence? flow = o.Capture?.Flow(o.ClientPort);
        string stopped = $"{Capitalize(what)} to {t} made no progress for {Seconds(e.Waited)} s{Octets(o)}";
        if (o.PathProbe is { Result: PathProbeResult.FullSegmentFailed } probe && smallWorked)
        {
            string packets = $"{probe.FullSegmentSize}-octet message (one {probe.Emss}-octet TCP segment, a {probe.Emss + HeaderOverhead(o)}-byte packet)";
            string retrans = flow is { ClientRetransmissions: > 0 } ? $" The capture shows {flow.ClientRetransmissions} retransmission(s) of segments up to {flow.LargestClientRetransmission} octets that were never acknowledged." : "";
            if (fragNeeded is not null)
            {
                return new CheckVerdict(CheckCauses.PmtuBlackhole,
                    $"{stopped}; on a fresh connection 64-octet messages pass but a {packets} does not. {fragNeeded} reached this host's interface, yet the connection never adapted: this host's firewall drops that ICMP error before the TCP stack sees it.{retrans}",
                    $"Accept ICMP 'fragmentation needed' (type 3 code 4; ICMPv6 packet too big) in this host's input chain (nft: icmp type destination-unreachable accept), or lower the MTU here to {fragNeeded.Mtu} (ip link set {o.Route?.Interface ?? "DEV"} mtu {fragNeeded.Mtu}).",
                    FirewallSide.Local);
            }
            string mtu = o.Route?.PathMtu is { } learned ? $" (the kernel has a learned path MTU of {learned})" : " and the kernel learned no smaller path MTU";
            return new CheckVerdict(CheckCauses.PmtuBlackhole,
                $"{stopped}; on a fresh connection 64-octet messages pass but a {packets} does not. No ICMP 'fragmentation needed' reached this host{mtu}: a link on the path has a smaller MTU and its ICMP errors are dropped (a PMTU black hole).{retrans}",
                $"Let ICMP 'fragmentation needed' (type 3 code 4; ICMPv6 packet too big) through every firewall between this host and {o.Target.Address}, or clamp the MSS on the router (nft: tcp flags syn tcp option maxseg size set rt mtu), or lower the MTU here (ip link set {o.Route?.Interface ?? "DEV"} mtu 1280).",
                FirewallSide.Path);
        }
        string second = o.PathProbe switch
        {
            { Result: PathProbeResult.Passed } => $"; a new connection to the same server carries 64-octet and full-segment messages, so something dropped this one flow (a stateful firewall or NAT entry, a middlebox byte or idle limit) or the server stopped serving it",
            { Result: PathProbeResult.ConnectFailed } p => $"; a new connection fails too ({p.Detail}), so the path or the server stopped answering altogether",
            { Result: PathProbeResult.SmallFailed } p => $"; a new connection comes up but its small messages do not return either ({p.Detail}): the server stopped serving, or the path drops data but not handshakes",
            { Result: PathProbeResult.FullSegmentFailed } p => $"; on a new connection small messages pass but a full-segment one does not ({p.Detail}), while on this one even small messages stalled",
            _ => "",
        };
        return new CheckVerdict(CheckCauses.Stall, $"{stopped}{second}.", CheckCauses.Stall.Fix,
            o.PathProbe?.Result == PathProbeResult.Passed ? FirewallSide.Path : null);
    }

    /// <summary>IP and TCP header octets on top of the MSS: 40 for IPv4 (+12 with timestamps, already out of the EMSS), 60 for IPv6.</summary>
    private static int HeaderOverhead(CheckObservations o) =>
        (o.Target.AddressFamily == AddressFamily.InterNetworkV6 ? 60 : 40) + (o.Parameters is { } p && o.Route?.InterfaceMtu is { } mtu && p.Emss + 40 < mtu ? 12 : 0);

    // ---- success ----

    private static CheckVerdict Works(CheckObservations o)
    {
        var verified = o.Operations.Where(r => r.Verified).ToList();
        string ops = verified.Count == 0
            ? "no RDMA operation was run"
            : $"{string.Join(", ", verified.Select(r => r.Operation).Distinct().Select(Spec))} verified at {string.Join(", ", verified.Select(r => SizeText(r.Size)).Distinct())}";
        string skipped = o.Skipped.Count > 0 ? $" (not run: {string.Join("; ", o.Skipped)})" : "";
        string mpa = o.Parameters is { } p ? $"MPA rev {p.ReplyRevision}, CRC {(p.Crc ? "on" : "off")}, markers {(p.MarkersSent || p.MarkersReceived ? "on" : "off")}, {(p.PeerToPeer ? $"peer-to-peer with a {p.Rtr.ToString().ToLowerInvariant()} RTR" : "client/server")}, IRD {p.Ird}/ORD {p.Ord}"
            : o.KernelConnection is { } kernel ? $"MPA negotiated by the kernel's iWARP driver ({kernel})" : "MPA";
        return new CheckVerdict(CheckCauses.Ok, $"iWARP to {Target(o)} works: {mpa}; {ops}{skipped}.", CheckCauses.Ok.Fix);
    }

    private static string Spec(string operation) => operation switch
    {
        "send" => "Send",
        "write" => "RDMA Write",
        "read" => "RDMA Read",
        _ => operation,
    };

    public static string SizeText(int size) => size switch
    {
        >= 1 << 20 when size % (1 << 20) == 0 => $"{size >> 20} MiB",
        >= 1 << 10 when size % (1 << 10) == 0 => $"{size >> 10} KiB",
        _ => $"{size} B",
    };

    private static CheckVerdict WithHardwareNote(CheckObservations o, CheckVerdict verdict)
    {
        if (o.Devices.FirstOrDefault(d => d.HardwareIwarp) is not { } rnic)
        {
            return verdict;
        }
        string note = $" Note: {rnic} is bound to {o.Route?.Interface}: RDMA applications that use it run on the RNIC's own TCP stack, which this host's firewall rules do not filter and host capture does not see; this check used the host's TCP stack.";
        string fix = $" For the RNIC's traffic, look at switch and router ACLs rather than nftables here, and capture with port mirroring or on the peer.";
        return verdict with { Sentence = verdict.Sentence + note, Fix = verdict.Fix + fix };
    }

    private static string Capitalize(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];
}
