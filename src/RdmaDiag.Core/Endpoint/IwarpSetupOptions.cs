using RdmaDiag.Wire.Mpa;

namespace RdmaDiag.Endpoint;

/// <summary>
/// How this endpoint treats the MPA C bit (RFC 5044 §7.1: if either frame has C=1, both ends use CRCs).
/// The names follow what Linux drivers can be configured to do (iwarp-wire.md §7.3, §7.4).
/// </summary>
public enum CrcPolicy : byte
{
    /// <summary>Send C=0; use CRCs when the peer asks (RFC 5044 requires it). siw's default.</summary>
    Off = 0,

    /// <summary>Send C=1 and accept whatever the peer answers (cxgb4's <c>crc_enabled=1</c>).</summary>
    Preferred,

    /// <summary>Send C=1 and fail unless the peer's frame carries C=1 too (siw's <c>mpa_crc_required</c>).</summary>
    Required,

    /// <summary>Send C=0 and refuse a peer that asks for CRCs (siw's <c>mpa_crc_strict</c> without <c>mpa_crc_required</c>).</summary>
    Forbidden,
}

/// <summary>RFC 6581 ready-to-receive (RTR) message types: the B, C and D flags of the enhanced block.</summary>
[Flags]
public enum RtrTypes : byte
{
    None = 0,

    /// <summary>B: zero-length Send.</summary>
    Send = 1,

    /// <summary>C: zero-length RDMA Write.</summary>
    Write = 2,

    /// <summary>D: zero-length RDMA Read.</summary>
    Read = 4,

    All = Send | Write | Read,
}

/// <summary>
/// What this endpoint offers and accepts while setting up a connection: MPA revision, CRC, markers,
/// peer-to-peer RTR, IRD/ORD and timeouts. Defaults interoperate with Linux siw 6.1 module defaults:
/// MPA Rev 2 with S=1 and the RFC 6581 block, CRC off unless asked, no markers, no P2P, PD ≤ 256.
/// </summary>
public sealed record IwarpSetupOptions
{
    public static IwarpSetupOptions Default { get; } = new();

    /// <summary>The TCP port <c>rdmadiag serve --soft</c> listens on unless told otherwise.</summary>
    public const int DefaultPort = 7174;

    /// <summary>1 (RFC 5044) or 2 (RFC 6581: S=1 with the IRD/ORD block, as siw and cxgb4 send).</summary>
    public byte MpaRevision { get; init; } = 2;

    public CrcPolicy Crc { get; init; } = CrcPolicy.Off;

    /// <summary>M=1 in our frame: the peer must insert markers in what it sends to us.</summary>
    public bool RequestMarkers { get; init; }

    /// <summary>
    /// Insert markers when the peer's frame has M=1. False behaves like siw, which has no markers:
    /// a Request with M=1 gets a Reply with R=1, a Reply with M=1 fails the connection.
    /// </summary>
    public bool AcceptPeerMarkers { get; init; } = true;

    /// <summary>
    /// Peer-to-peer mode (A=1) with these RTR types. As initiator: the types we can send; None means
    /// client/server. As responder: the types we accept from an initiator that asks for P2P; None
    /// means siw's set (Write and Read).
    /// </summary>
    public RtrTypes PeerToPeer { get; init; } = RtrTypes.None;

    /// <summary>
    /// Inbound RDMA Read (and Atomic) Requests we can hold at once; sent in the RFC 6581 block at Rev 2
    /// (0x3FFF there means "no automatic negotiation"), and enforced locally at any revision.
    /// </summary>
    public ushort Ird { get; init; } = 16;

    /// <summary>Outbound RDMA Read (and Atomic) Requests we keep outstanding at once.</summary>
    public ushort Ord { get; init; } = 16;

    /// <summary>
    /// Linux's relaxed IRD/ORD negotiation (siw and cxgb4): clamp values instead of failing where the
    /// result is still safe. False applies RFC 6581 §3.3 strictly (Terminate code 6 on any shortfall).
    /// </summary>
    public bool RelaxedIrdOrd { get; init; } = true;

    /// <summary>Largest PD_Length sent or accepted, the RFC 6581 block included: 256 as Linux, 512 as the RFC.</summary>
    public MpaLimits PrivateDataLimit { get; init; } = MpaLimits.Linux;

    /// <summary>Wait for the peer's start frame. Null: 10 s as initiator, 5 s as responder (siw's timers).</summary>
    public TimeSpan? HandshakeTimeout { get; init; }

    /// <summary>Wait for the TCP handshake as initiator.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public static TimeSpan DefaultInitiatorHandshakeTimeout { get; } = TimeSpan.FromSeconds(10);

    public static TimeSpan DefaultResponderHandshakeTimeout { get; } = TimeSpan.FromSeconds(5);

    internal TimeSpan InitiatorHandshakeTimeout => HandshakeTimeout ?? DefaultInitiatorHandshakeTimeout;

    internal TimeSpan ResponderHandshakeTimeout => HandshakeTimeout ?? DefaultResponderHandshakeTimeout;

    internal bool Enhanced => MpaRevision >= 2;

    /// <summary>Largest ULP private data we may send: the limit less the 4-octet block at Rev 2.</summary>
    public int MaxUlpPrivateData => PrivateDataLimit.MaxPrivateDataLength - (Enhanced ? MpaV2Block.Length : 0);

    /// <summary>
    /// Throws <see cref="UserInputException"/> naming the setting and the conflict. The option names are
    /// those of <c>serve --soft</c> and <c>check --soft</c>, which pass their options straight through.
    /// </summary>
    public void Validate()
    {
        if (MpaRevision is not (1 or 2))
        {
            throw new UserInputException(
                $"--mpa-rev {MpaRevision} is not supported; expected 1 (RFC 5044) or 2 (RFC 6581){(MpaRevision == 0 ? "; Rev 0 is the pre-IETF RDMAC variant" : "")}");
        }
        if (PeerToPeer != RtrTypes.None && MpaRevision < 2)
        {
            throw new UserInputException(
                $"--p2p {PeerToPeer.ToString().ToLowerInvariant()} conflicts with --mpa-rev {MpaRevision}: peer-to-peer RTR negotiation needs the RFC 6581 block, so --mpa-rev 2");
        }
        if ((PeerToPeer & ~RtrTypes.All) != 0)
        {
            throw new UserInputException($"--p2p value {(int)PeerToPeer} is not a set of send, write and read");
        }
        if (Ird > MpaV2Block.MaxValue || Ord > MpaV2Block.MaxValue)
        {
            throw new UserInputException($"--ird {Ird} / --ord {Ord}: each must be at most {MpaV2Block.MaxValue} (0x3FFF, the 14-bit field; 0x3FFF means no negotiation)");
        }
        int limit = PrivateDataLimit.MaxPrivateDataLength;
        if (limit < MpaV2Block.Length || limit > MpaLimits.Rfc.MaxPrivateDataLength)
        {
            throw new UserInputException($"private-data limit {limit} is out of range; expected {MpaV2Block.Length} to {MpaLimits.Rfc.MaxPrivateDataLength} octets");
        }
        if (HandshakeTimeout is { } handshake && handshake <= TimeSpan.Zero)
        {
            throw new UserInputException($"handshake timeout {handshake.TotalSeconds} s must be positive");
        }
        if (ConnectTimeout <= TimeSpan.Zero)
        {
            throw new UserInputException($"connect timeout {ConnectTimeout.TotalSeconds} s must be positive");
        }
    }

    /// <summary>Throws <see cref="UserInputException"/> when <paramref name="privateData"/> does not fit our own frame.</summary>
    public void ValidatePrivateData(ReadOnlySpan<byte> privateData)
    {
        if (privateData.Length > MaxUlpPrivateData)
        {
            throw new UserInputException(
                $"private data of {privateData.Length} octets exceeds the limit of {MaxUlpPrivateData} (PD_Length {PrivateDataLimit.MaxPrivateDataLength}{(Enhanced ? " less the 4-octet RFC 6581 block" : "")})");
        }
    }

    /// <summary>Parses the CLI spelling of <see cref="CrcPolicy"/>.</summary>
    public static CrcPolicy ParseCrc(string text) => text.ToLowerInvariant() switch
    {
        "off" => CrcPolicy.Off,
        "preferred" => CrcPolicy.Preferred,
        "required" => CrcPolicy.Required,
        "forbidden" => CrcPolicy.Forbidden,
        _ => throw new UserInputException($"--crc '{text}' is not a CRC policy; expected required, preferred, off or forbidden"),
    };

    /// <summary>Parses the CLI spelling of an RTR set: "send", "write", "read", "all", or a comma list.</summary>
    public static RtrTypes ParseRtr(string text)
    {
        RtrTypes types = RtrTypes.None;
        foreach (string part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            types |= part.ToLowerInvariant() switch
            {
                "send" => RtrTypes.Send,
                "write" => RtrTypes.Write,
                "read" => RtrTypes.Read,
                "all" => RtrTypes.All,
                _ => throw new UserInputException($"--p2p '{part}' is not an RTR type; expected send, write, read or all (comma-separated)"),
            };
        }
        if (types == RtrTypes.None)
        {
            throw new UserInputException($"--p2p '{text}' names no RTR type; expected send, write, read or all");
        }
        return types;
    }

    public static string FormatCrc(CrcPolicy policy) => policy.ToString().ToLowerInvariant();

    /// <summary>
    /// Builds and validates setup options from the option values <c>serve --soft</c> and <c>check --soft</c>
    /// share (null: the default). Throws <see cref="UserInputException"/> naming the option.
    /// </summary>
    public static IwarpSetupOptions FromCommandLine(int? mpaRevision = null, string? crc = null, bool markers = false, bool refuseMarkers = false,
        string? p2p = null, int? ird = null, int? ord = null, bool strictIrdOrd = false, int? privateDataLimit = null,
        double? handshakeTimeoutSeconds = null, double? connectTimeoutSeconds = null)
    {
        static ushort Depth(string name, int value) => value is >= 0 and <= MpaV2Block.MaxValue
            ? (ushort)value
            : throw new UserInputException($"{name} {value} is out of range; expected 0 to {MpaV2Block.MaxValue} (0x3FFF: no negotiation)");
        static TimeSpan Seconds(string name, double value) => value > 0 && value <= 3600
            ? TimeSpan.FromSeconds(value)
            : throw new UserInputException($"{name} {value} is out of range; expected more than 0 and at most 3600 seconds");

        if (mpaRevision is { } rev && rev is not (1 or 2))
        {
            throw new UserInputException(
                $"--mpa-rev {rev} is not supported; expected 1 (RFC 5044) or 2 (RFC 6581){(rev == 0 ? "; Rev 0 is the pre-IETF RDMAC variant" : "")}");
        }
        if (privateDataLimit is { } limit && limit is not (256 or 512))
        {
            throw new UserInputException($"--pd-limit {limit} is not a known limit; expected 256 (Linux RDMA_MAX_PRIVATE_DATA) or 512 (RFC 5044)");
        }
        var options = new IwarpSetupOptions
        {
            MpaRevision = (byte)(mpaRevision ?? 2),
            Crc = crc is null ? CrcPolicy.Off : ParseCrc(crc),
            RequestMarkers = markers,
            AcceptPeerMarkers = !refuseMarkers,
            PeerToPeer = p2p is null ? RtrTypes.None : ParseRtr(p2p),
            Ird = ird is { } i ? Depth("--ird", i) : Default.Ird,
            Ord = ord is { } o ? Depth("--ord", o) : Default.Ord,
            RelaxedIrdOrd = !strictIrdOrd,
            PrivateDataLimit = privateDataLimit == 512 ? MpaLimits.Rfc : MpaLimits.Linux,
            HandshakeTimeout = handshakeTimeoutSeconds is { } h ? Seconds("--handshake-timeout", h) : null,
            ConnectTimeout = connectTimeoutSeconds is { } c ? Seconds("--connect-timeout", c) : Default.ConnectTimeout,
        };
        options.Validate();
        return options;
    }

    /// <summary>Checks a TCP port option: 1 to 65535, or 0 where <paramref name="allowAny"/> (bind to any free port).</summary>
    public static int CheckPort(int port, bool allowAny = false) => port is >= 1 and <= 65535 || (allowAny && port == 0)
        ? port
        : throw new UserInputException($"--port {port} is out of range; expected {(allowAny ? 0 : 1)} to 65535{(allowAny ? " (0: any free port)" : "")}");

    /// <summary>One line describing what this endpoint offers, for logs and reports.</summary>
    public override string ToString() =>
        $"MPA rev {MpaRevision}, crc {FormatCrc(Crc)}, markers {(RequestMarkers ? "requested" : "not requested")}{(AcceptPeerMarkers ? "" : ", peer markers refused")}, "
        + $"p2p {(PeerToPeer == RtrTypes.None ? "off" : MpaNegotiation.Describe(PeerToPeer))}, ird {Ird}, ord {Ord}{(RelaxedIrdOrd ? "" : " (strict)")}, "
        + $"pd limit {PrivateDataLimit.MaxPrivateDataLength}";
}
