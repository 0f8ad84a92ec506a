using System.Runtime.InteropServices;

namespace RdmaDiag.Wire.Rdmap;

/// <summary>Which opcode-specific header an <see cref="RdmapHeader"/> holds.</summary>
public enum RdmapHeaderKind : byte
{
    /// <summary>Write, Read Response and the Send family: no RDMAP header after the DDP header.</summary>
    None = 0,
    ReadRequest,
    Terminate,
    ImmediateData,
    AtomicRequest,
    AtomicResponse,
}

/// <summary>
/// The opcode-specific RDMAP header that follows the DDP header, as one value: a tagged union over
/// the five header types, all stored in the same bytes so decoding never allocates or copies much.
/// </summary>
[StructLayout(LayoutKind.Explicit)]
public readonly struct RdmapHeader
{
    private const int Payload = 8;

    [FieldOffset(0)] private readonly RdmapHeaderKind _kind;
    [FieldOffset(Payload)] private readonly ReadRequestHeader _readRequest;
    [FieldOffset(Payload)] private readonly TerminateHeader _terminate;
    [FieldOffset(Payload)] private readonly ImmediateData _immediateData;
    [FieldOffset(Payload)] private readonly AtomicRequest _atomicRequest;
    [FieldOffset(Payload)] private readonly AtomicResponse _atomicResponse;

    public RdmapHeader(ReadRequestHeader header) : this() { _kind = RdmapHeaderKind.ReadRequest; _readRequest = header; }

    public RdmapHeader(TerminateHeader header) : this() { _kind = RdmapHeaderKind.Terminate; _terminate = header; }

    public RdmapHeader(ImmediateData header) : this() { _kind = RdmapHeaderKind.ImmediateData; _immediateData = header; }

    public RdmapHeader(AtomicRequest header) : this() { _kind = RdmapHeaderKind.AtomicRequest; _atomicRequest = header; }

    public RdmapHeader(AtomicResponse header) : this() { _kind = RdmapHeaderKind.AtomicResponse; _atomicResponse = header; }

    public static implicit operator RdmapHeader(ReadRequestHeader header) => new(header);

    public static implicit operator RdmapHeader(TerminateHeader header) => new(header);

    public static implicit operator RdmapHeader(ImmediateData header) => new(header);

    public static implicit operator RdmapHeader(AtomicRequest header) => new(header);

    public static implicit operator RdmapHeader(AtomicResponse header) => new(header);

    /// <summary>No RDMAP header (Write, Read Response, Send family).</summary>
    public static RdmapHeader None => default;

    public RdmapHeaderKind Kind => _kind;

    public ReadRequestHeader ReadRequest => _kind == RdmapHeaderKind.ReadRequest ? _readRequest : throw WrongKind(RdmapHeaderKind.ReadRequest);

    public TerminateHeader Terminate => _kind == RdmapHeaderKind.Terminate ? _terminate : throw WrongKind(RdmapHeaderKind.Terminate);

    public ImmediateData ImmediateData => _kind == RdmapHeaderKind.ImmediateData ? _immediateData : throw WrongKind(RdmapHeaderKind.ImmediateData);

    public AtomicRequest AtomicRequest => _kind == RdmapHeaderKind.AtomicRequest ? _atomicRequest : throw WrongKind(RdmapHeaderKind.AtomicRequest);

    public AtomicResponse AtomicResponse => _kind == RdmapHeaderKind.AtomicResponse ? _atomicResponse : throw WrongKind(RdmapHeaderKind.AtomicResponse);

    /// <summary>Octets the header occupies after the DDP header.</summary>
    public int Length => _kind == RdmapHeaderKind.Terminate ? _terminate.Length : FixedLength(_kind);

    /// <summary>The exact RDMAP header length of a kind; 0 for None, -1 for the variable Terminate.</summary>
    public static int FixedLength(RdmapHeaderKind kind) => kind switch
    {
        RdmapHeaderKind.ReadRequest => ReadRequestHeader.Length,
        RdmapHeaderKind.ImmediateData => ImmediateData.Length,
        RdmapHeaderKind.AtomicRequest => AtomicRequest.Length,
        RdmapHeaderKind.AtomicResponse => AtomicResponse.Length,
        RdmapHeaderKind.Terminate => -1,
        _ => 0,
    };

    /// <summary>Reads a fixed-length header of <paramref name="kind"/>; the caller has checked the length.</summary>
    internal static RdmapHeader ReadFixed(RdmapHeaderKind kind, ReadOnlySpan<byte> source)
    {
        switch (kind)
        {
            case RdmapHeaderKind.ReadRequest:
                ReadRequestHeader.TryRead(source, out var readRequest);
                return readRequest;
            case RdmapHeaderKind.ImmediateData:
                ImmediateData.TryRead(source, out var immediate);
                return immediate;
            case RdmapHeaderKind.AtomicRequest:
                AtomicRequest.TryRead(source, out var atomicRequest);
                return atomicRequest;
            case RdmapHeaderKind.AtomicResponse:
                AtomicResponse.TryRead(source, out var atomicResponse);
                return atomicResponse;
            default:
                return None;
        }
    }

    public int Write(Span<byte> destination) => _kind switch
    {
        RdmapHeaderKind.ReadRequest => _readRequest.Write(destination),
        RdmapHeaderKind.Terminate => _terminate.Write(destination),
        RdmapHeaderKind.ImmediateData => _immediateData.Write(destination),
        RdmapHeaderKind.AtomicRequest => _atomicRequest.Write(destination),
        RdmapHeaderKind.AtomicResponse => _atomicResponse.Write(destination),
        _ => 0,
    };

    /// <summary>The header kind an opcode carries.</summary>
    public static RdmapHeaderKind KindFor(RdmapOpcode opcode) => opcode switch
    {
        RdmapOpcode.RdmaReadRequest => RdmapHeaderKind.ReadRequest,
        RdmapOpcode.Terminate => RdmapHeaderKind.Terminate,
        RdmapOpcode.ImmediateData or RdmapOpcode.ImmediateDataWithSolicitedEvent => RdmapHeaderKind.ImmediateData,
        RdmapOpcode.AtomicRequest => RdmapHeaderKind.AtomicRequest,
        RdmapOpcode.AtomicResponse => RdmapHeaderKind.AtomicResponse,
        _ => RdmapHeaderKind.None,
    };

    private InvalidOperationException WrongKind(RdmapHeaderKind wanted) => new($"the RDMAP header is {_kind}, not {wanted}");

    public override string ToString() => _kind switch
    {
        RdmapHeaderKind.ReadRequest => _readRequest.ToString(),
        RdmapHeaderKind.Terminate => _terminate.ToString(),
        RdmapHeaderKind.ImmediateData => _immediateData.ToString(),
        RdmapHeaderKind.AtomicRequest => _atomicRequest.ToString(),
        RdmapHeaderKind.AtomicResponse => _atomicResponse.ToString(),
        _ => "no RDMAP header",
    };
}
