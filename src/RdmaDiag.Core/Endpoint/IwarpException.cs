using System.Net;
using System.Net.Sockets;
using RdmaDiag.Wire;
using RdmaDiag.Wire.Mpa;
using RdmaDiag.Wire.Rdmap;

namespace RdmaDiag.Endpoint;

/// <summary>Why a connection could not be set up or stopped working. Stable values: <c>check</c> maps them to verdicts.</summary>
public enum IwarpErrorKind
{
    /// <summary>TCP connect answered with RST (nothing listens on the port, or a firewall rejects).</summary>
    TcpRefused,

    /// <summary>No route to the host or network (ICMP unreachable, no address on the link).</summary>
    TcpUnreachable,

    /// <summary>TCP connect got no answer within the connect timeout (SYNs dropped).</summary>
    TcpTimeout,

    /// <summary>Another socket error; <see cref="IwarpException.SocketError"/> says which.</summary>
    TcpError,

    /// <summary>The peer's MPA start frame did not arrive within the handshake timeout; see <see cref="IwarpException.BytesReceived"/>.</summary>
    HandshakeTimeout,

    /// <summary>The peer sent bytes that are not an MPA start frame; see <see cref="IwarpException.FirstBytes"/>.</summary>
    NotMpa,

    /// <summary>An MPA frame broke the rules: PD_Length over the limit, bytes after the frame, S=1 without the block, wrong key direction.</summary>
    MalformedStartFrame,

    /// <summary>The responder answered R=1; see <see cref="IwarpException.PeerPrivateData"/>.</summary>
    MpaRejected,

    /// <summary>The peer's MPA revision is one we cannot speak (or, as responder, above ours).</summary>
    RevisionIncompatible,

    /// <summary>One side demands markers (M=1) that the other cannot insert.</summary>
    MarkersNotSupported,

    /// <summary>CRC required on one side and forbidden or not confirmed on the other.</summary>
    CrcPolicyConflict,

    /// <summary>Peer-to-peer mode without a common RTR type (MPA error 7).</summary>
    NoMatchingRtr,

    /// <summary>IRD/ORD negotiation failed (MPA error 6).</summary>
    InsufficientIrd,

    /// <summary>The peer sent a Terminate; <see cref="IwarpException.Terminate"/> holds it decoded.</summary>
    TerminateReceived,

    /// <summary>We found a protocol violation in what the peer sent and terminated; <see cref="IwarpException.Terminate"/> is what we sent.</summary>
    TerminateSent,

    /// <summary>An FPDU's CRC did not match (detected by us, or reported by the peer's Terminate).</summary>
    CrcError,

    /// <summary>The peer closed the stream cleanly between messages.</summary>
    ConnectionClosed,

    /// <summary>The peer closed the stream in the middle of an FPDU or a multi-segment message.</summary>
    ClosedMidMessage,

    /// <summary>The stream was reset (RST) or failed at the socket.</summary>
    ConnectionReset,

    /// <summary>No progress within the caller's deadline.</summary>
    Stall,

    /// <summary>A local limit was hit (receive queue, registered bytes, completion queue).</summary>
    LocalResourceLimit,

    /// <summary>The connection was closed locally; outstanding work was flushed.</summary>
    LocalClose,
}

/// <summary>Where the connection was when it failed.</summary>
public enum ConnectionPhase
{
    TcpConnect,
    MpaHandshake,
    ReadyToReceive,
    FullOperation,
}

/// <summary>Which side found the problem.</summary>
public enum ErrorSource
{
    Local,
    Peer,
}

/// <summary>
/// A connection failure with the evidence to explain it: the kind, the phase, what was received
/// (bytes, the first octets, the peer's start frame), the Terminate sent or received, the socket error.
/// </summary>
public sealed class IwarpException : Exception
{
    public IwarpException(IwarpErrorKind kind, ConnectionPhase phase, string message, Exception? inner = null)
        : base(message, inner)
    {
        Kind = kind;
        Phase = phase;
    }

    public IwarpErrorKind Kind { get; }

    public ConnectionPhase Phase { get; }

    public ErrorSource DetectedBy { get; init; } = ErrorSource.Local;

    public EndPoint? RemoteEndPoint { get; init; }

    public SocketError? SocketError { get; init; }

    /// <summary>Octets received from the peer in the failing phase (for a handshake, before the frame completed).</summary>
    public long BytesReceived { get; init; }

    /// <summary>The first octets received in the failing phase (up to 64), for a human to recognise the protocol.</summary>
    public ReadOnlyMemory<byte> FirstBytes { get; init; }

    /// <summary>The peer's MPA Request or Reply, when one was decoded.</summary>
    public MpaStartFrame? PeerFrame { get; init; }

    /// <summary>Private data of a rejecting Reply (the RFC 6581 block removed).</summary>
    public ReadOnlyMemory<byte> PeerPrivateData { get; init; }

    /// <summary>The Terminate received (<see cref="DetectedBy"/> Peer) or sent (Local).</summary>
    public TerminateHeader? Terminate { get; init; }

    /// <summary>The decoder's reason, when a wire decoder rejected the bytes.</summary>
    public WireError? WireError { get; init; }

    /// <summary>How long the failing wait lasted, for timeouts and stalls.</summary>
    public TimeSpan? Waited { get; init; }

    /// <summary>Hex of <see cref="FirstBytes"/> with a printable-ASCII rendering, e.g. <c>48 54 54 50 |HTTP|</c>.</summary>
    public string FirstBytesText => FormatBytes(FirstBytes.Span);

    /// <summary>This error with <paramref name="remote"/> filled in when it lacks one (evidence kept).</summary>
    internal IwarpException WithRemote(EndPoint? remote) => RemoteEndPoint is not null || remote is null ? this
        : new IwarpException(Kind, Phase, Message, InnerException)
        {
            DetectedBy = DetectedBy,
            RemoteEndPoint = remote,
            SocketError = SocketError,
            BytesReceived = BytesReceived,
            FirstBytes = FirstBytes,
            PeerFrame = PeerFrame,
            PeerPrivateData = PeerPrivateData,
            Terminate = Terminate,
            WireError = WireError,
            Waited = Waited,
        };

    internal static string FormatBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            return "(none)";
        }
        var text = new System.Text.StringBuilder(bytes.Length * 4 + 2);
        foreach (byte b in bytes)
        {
            text.Append(b.ToString("X2")).Append(' ');
        }
        text.Append('|');
        foreach (byte b in bytes)
        {
            text.Append(b is >= 0x20 and < 0x7F ? (char)b : '.');
        }
        return text.Append('|').ToString();
    }

    internal static IwarpException FromSocket(SocketException e, ConnectionPhase phase, EndPoint? remote, string doing, long bytesReceived = 0)
    {
        IwarpErrorKind kind = e.SocketErrorCode switch
        {
            System.Net.Sockets.SocketError.ConnectionRefused => IwarpErrorKind.TcpRefused,
            System.Net.Sockets.SocketError.NetworkUnreachable or System.Net.Sockets.SocketError.HostUnreachable
                or System.Net.Sockets.SocketError.HostNotFound or System.Net.Sockets.SocketError.NetworkDown => IwarpErrorKind.TcpUnreachable,
            System.Net.Sockets.SocketError.TimedOut or System.Net.Sockets.SocketError.InProgress
                or System.Net.Sockets.SocketError.WouldBlock when phase == ConnectionPhase.TcpConnect => IwarpErrorKind.TcpTimeout,
            System.Net.Sockets.SocketError.ConnectionReset or System.Net.Sockets.SocketError.ConnectionAborted
                or System.Net.Sockets.SocketError.Shutdown when phase != ConnectionPhase.TcpConnect => IwarpErrorKind.ConnectionReset,
            _ => phase == ConnectionPhase.TcpConnect ? IwarpErrorKind.TcpError : IwarpErrorKind.ConnectionReset,
        };
        return new IwarpException(kind, phase, $"{doing}: {e.Message} ({e.SocketErrorCode})", e)
        {
            RemoteEndPoint = remote,
            SocketError = e.SocketErrorCode,
            BytesReceived = bytesReceived,
        };
    }
}
