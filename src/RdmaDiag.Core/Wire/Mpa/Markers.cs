using System.Buffers;
using System.Buffers.Binary;

namespace RdmaDiag.Wire.Mpa;

/// <summary>
/// MPA markers (RFC 5044 §4.3, iwarp-wire.md §2.4): 4 octets at every stream offset that is a multiple of
/// 512, counted from SeqStart, the first octet of full operation in that direction.
/// <code>
///   0                   1                   2                   3
///   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |           RESERVED            |            FPDUPTR            |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// </code>
/// FPDUPTR is the stream distance from the containing FPDU's ULPDU_Length to the marker; 0 for a marker
/// that sits between two FPDUs, which belongs to the following FPDU. Every marker is covered by the CRC
/// of the FPDU it belongs to, including one that falls between PAD and the CRC field.
/// </summary>
public static class MpaMarkers
{
    public const int Interval = 512;
    public const int Length = 4;

    /// <summary>True when a marker starts at this offset from SeqStart (32-bit wrap-around is harmless: 2^32 is a multiple of 512).</summary>
    public static bool StartsAt(uint streamOffset) => (streamOffset & (Interval - 1)) == 0;

    /// <summary>Octets from <paramref name="streamOffset"/> to the next marker boundary (512 when on one).</summary>
    public static int DistanceToNext(uint streamOffset) => Interval - (int)(streamOffset & (Interval - 1));

    internal static void Write(Span<byte> destination, int fpduPtr)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, 0);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)fpduPtr);
    }

    // The low 2 bits are sent as 0 and must be treated as 0.
    internal static int ReadPointer(ReadOnlySpan<byte> marker) => BinaryPrimitives.ReadUInt16BigEndian(marker[2..]) & ~3;
}

/// <summary>
/// Sender side: turns unmarked FPDUs into the marked stream, tracking the stream offset from SeqStart.
/// The first call at offset 0 emits the leading FPDUPTR-0 marker.
/// </summary>
public struct MarkerInserter(uint streamOffset = 0)
{
    /// <summary>Offset of the next octet to be sent, from SeqStart.</summary>
    public uint StreamOffset { get; private set; } = streamOffset;

    /// <summary>Octets <see cref="Write"/> will produce for an unmarked FPDU of this length at the current offset.</summary>
    public readonly int GetEncodedLength(int fpduLength)
    {
        int markers = 0;
        uint offset = StreamOffset;
        if (MpaMarkers.StartsAt(offset))
        {
            markers++;
            offset += MpaMarkers.Length;
        }
        // A marker at a boundary strictly inside the FPDU (one right after the CRC belongs to the next).
        int first = MpaMarkers.DistanceToNext(offset);
        int remaining = fpduLength;
        while (remaining > first)
        {
            markers++;
            remaining -= first;
            first = MpaMarkers.Interval - MpaMarkers.Length;
        }
        return fpduLength + markers * MpaMarkers.Length;
    }

    /// <summary>
    /// Copies an unmarked FPDU (as produced by <see cref="Fpdu.Seal"/>) to <paramref name="destination"/>
    /// with markers inserted, recomputes its CRC over the marked octets (or writes 0 when
    /// <paramref name="crcEnabled"/> is false) and advances the stream offset. Returns octets written.
    /// </summary>
    public int Write(ReadOnlySpan<byte> fpdu, Span<byte> destination, bool crcEnabled)
    {
        if (!Fpdu.TryReadUlpduLength(fpdu, out int n) || Fpdu.TotalLength(n) != fpdu.Length)
        {
            throw new ArgumentException($"not one whole unmarked FPDU: {fpdu.Length} octets", nameof(fpdu));
        }
        if ((StreamOffset & 3) != 0)
        {
            throw new InvalidOperationException($"stream offset {StreamOffset} is not 4-aligned; FPDUs and markers keep it so");
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, GetEncodedLength(fpdu.Length), nameof(destination));

        int written = 0;
        uint offset = StreamOffset;
        if (MpaMarkers.StartsAt(offset))
        {
            MpaMarkers.Write(destination, 0);
            written = MpaMarkers.Length;
            offset += MpaMarkers.Length;
        }
        int fpduStart = written;
        int read = 0;
        while (true)
        {
            int chunk = Math.Min(MpaMarkers.DistanceToNext(offset), fpdu.Length - read);
            fpdu.Slice(read, chunk).CopyTo(destination[written..]);
            read += chunk;
            written += chunk;
            offset += (uint)chunk;
            if (read == fpdu.Length)
            {
                break;
            }
            int pointer = written - fpduStart;
            if (pointer > ushort.MaxValue)
            {
                throw new ArgumentException($"FPDU too long for a 16-bit FPDUPTR ({pointer})", nameof(fpdu));
            }
            MpaMarkers.Write(destination[written..], pointer);
            written += MpaMarkers.Length;
            offset += MpaMarkers.Length;
        }
        int crcAt = written - Crc32c.Size;
        Crc32c.WriteWire(destination[crcAt..], crcEnabled ? Crc32c.Compute(destination[..crcAt]) : 0);
        StreamOffset = offset;
        return written;
    }
}

/// <summary>
/// Receiver side: reads one FPDU at a time from the marked stream, strips the markers by stream offset
/// and feeds them to the CRC as §2.4 says (leading FPDUPTR-0 marker and interior markers included, the
/// marker after the CRC left to the next FPDU), and checks every FPDUPTR.
/// </summary>
public struct MarkerRemover(uint streamOffset = 0)
{
    /// <summary>Offset of the next unread octet, from SeqStart.</summary>
    public uint StreamOffset { get; private set; } = streamOffset;

    /// <summary>
    /// Reads the next FPDU from the front of <paramref name="marked"/> (which starts at
    /// <see cref="StreamOffset"/>) and writes it without markers to <paramref name="fpdu"/> (at least
    /// <see cref="Fpdu.MaxLength"/> octets), where <see cref="Fpdu.TryRead"/> with verifyCrc false can
    /// then parse it. NeedMoreData leaves the state unchanged. Done, and InvalidData for a CRC mismatch,
    /// set <paramref name="consumed"/> to the marked octets of this FPDU and advance the stream offset by it;
    /// InvalidData for an FPDUPTR that disagrees with ULPDU_Length (MPA error 3) consumes nothing.
    /// </summary>
    public OperationStatus TryRead(ReadOnlySpan<byte> marked, Span<byte> fpdu, bool verifyCrc, out int consumed, out int fpduLength, out WireError error)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(fpdu.Length, Fpdu.MaxLength, nameof(fpdu));
        consumed = 0;
        fpduLength = 0;
        error = default;

        int read = 0;
        uint offset = StreamOffset;
        if (MpaMarkers.StartsAt(offset))
        {
            if (marked.Length < MpaMarkers.Length)
            {
                return OperationStatus.NeedMoreData;
            }
            int leading = MpaMarkers.ReadPointer(marked);
            if (leading != 0)
            {
                error = new WireError(WireErrorKind.MpaMarkerPointer, leading, 0);
                return OperationStatus.InvalidData;
            }
            read = MpaMarkers.Length;
            offset += MpaMarkers.Length;
        }
        int fpduStart = read;
        // A marker is 4-aligned and 4 long, so the 2-octet ULPDU_Length after a boundary is never split.
        if (!Fpdu.TryReadUlpduLength(marked[read..], out int n))
        {
            return OperationStatus.NeedMoreData;
        }
        int total = Fpdu.TotalLength(n);
        int copied = 0;
        int crcAt = -1;
        while (true)
        {
            int chunk = Math.Min(MpaMarkers.DistanceToNext(offset), total - copied);
            int crcField = total - Crc32c.Size;
            if (copied <= crcField && crcField < copied + chunk)
            {
                crcAt = read + (crcField - copied);
            }
            if (marked.Length - read < chunk)
            {
                return OperationStatus.NeedMoreData;
            }
            marked.Slice(read, chunk).CopyTo(fpdu[copied..]);
            copied += chunk;
            read += chunk;
            offset += (uint)chunk;
            if (copied == total)
            {
                break;
            }
            if (marked.Length - read < MpaMarkers.Length)
            {
                return OperationStatus.NeedMoreData;
            }
            int pointer = MpaMarkers.ReadPointer(marked[read..]);
            int expected = (read - fpduStart) & ~3;
            if (pointer != expected)
            {
                error = new WireError(WireErrorKind.MpaMarkerPointer, pointer, expected);
                return OperationStatus.InvalidData;
            }
            read += MpaMarkers.Length;
            offset += MpaMarkers.Length;
        }

        consumed = read;
        fpduLength = total;
        StreamOffset = offset;
        if (verifyCrc)
        {
            uint received = Crc32c.ReadWire(fpdu[(total - Crc32c.Size)..]);
            uint computed = Crc32c.Compute(marked[..crcAt]);
            if (received != computed)
            {
                error = new WireError(WireErrorKind.MpaCrcMismatch, received, computed);
                return OperationStatus.InvalidData;
            }
        }
        return OperationStatus.Done;
    }
}
