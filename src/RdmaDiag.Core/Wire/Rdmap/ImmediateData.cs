using System.Buffers.Binary;

namespace RdmaDiag.Wire.Rdmap;

/// <summary>Immediate Data (RFC 7306 §5): exactly 8 opaque octets after the untagged DDP header.</summary>
/// <remarks><see cref="Value"/> holds the octets read big-endian, so writing it back reproduces them.</remarks>
public readonly record struct ImmediateData(ulong Value)
{
    public const int Length = 8;

    public static bool TryRead(ReadOnlySpan<byte> source, out ImmediateData data)
    {
        data = source.Length < Length ? default : new ImmediateData(BinaryPrimitives.ReadUInt64BigEndian(source));
        return source.Length >= Length;
    }

    public int Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Length, nameof(destination));
        BinaryPrimitives.WriteUInt64BigEndian(destination, Value);
        return Length;
    }
}
