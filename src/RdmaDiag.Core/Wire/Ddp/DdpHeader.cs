using System.Buffers;
using System.Buffers.Binary;

namespace RdmaDiag.Wire.Ddp;

/// <summary>
/// A DDP segment header (RFC 5041 §5), tagged (14 octets) or untagged (18 octets). The second octet
/// (RsvdULP) carries the RDMAP control octet.
/// <code>
///  Control octet:  |T|L| Rsvd  |DV |      T tagged, L last, DV version (1 = RFC 5041)
///
///  Tagged (T=1):
///   0                   1                   2                   3
///   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |T|L| Rsvd  |DV |   RsvdULP     |          STag  ...            |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |   ... STag                    |    TO (64 bits) ...           |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |                        ... TO ...                             |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |    ... TO                     |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///
///  Untagged (T=0):
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |T|L| Rsvd  |DV | RsvdULP[0:7]  |      RsvdULP[8:39] ...        |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |   ... RsvdULP[8:39]           |            QN ...             |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |   ... QN                      |            MSN ...            |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |   ... MSN                     |            MO ...             |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |   ... MO                      |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// </code>
/// </summary>
public readonly struct DdpHeader : IEquatable<DdpHeader>
{
    public const int TaggedLength = 14;
    public const int UntaggedLength = 18;
    public const byte TaggedFlag = 0x80;
    public const byte LastFlag = 0x40;
    public const byte ReservedMask = 0x3C;
    public const byte VersionMask = 0x03;

    /// <summary>DV for RFC 5041 (0 is the pre-IETF RDMAC version).</summary>
    public const byte CurrentVersion = 1;

    private DdpHeader(bool tagged, bool last, byte dv, byte reserved, byte rdmapControl, uint stag, ulong taggedOffset,
        uint rsvdUlp, uint queueNumber, uint msn, uint messageOffset)
    {
        Tagged = tagged;
        Last = last;
        Dv = dv;
        Reserved = reserved;
        RdmapControl = rdmapControl;
        STag = stag;
        TaggedOffset = taggedOffset;
        RsvdUlp = rsvdUlp;
        QueueNumber = queueNumber;
        MessageSequenceNumber = msn;
        MessageOffset = messageOffset;
    }

    /// <summary>T: tagged buffer model.</summary>
    public bool Tagged { get; }

    /// <summary>L: last segment of the DDP message.</summary>
    public bool Last { get; }

    /// <summary>DV, the DDP version (2 bits).</summary>
    public byte Dv { get; }

    /// <summary>The 4 reserved bits of the control octet as received (shifted down); written as zero.</summary>
    public byte Reserved { get; }

    /// <summary>RsvdULP octet 0: RDMAP's control octet.</summary>
    public byte RdmapControl { get; }

    /// <summary>Tagged only: the data sink's steering tag.</summary>
    public uint STag { get; }

    /// <summary>Tagged only: TO, where this segment's payload goes in the sink buffer.</summary>
    public ulong TaggedOffset { get; }

    /// <summary>Untagged only: RsvdULP[8:39]; RDMAP's Invalidate STag or zero.</summary>
    public uint RsvdUlp { get; }

    /// <summary>Untagged only: the Invalidate STag of Send with Invalidate (same octets as <see cref="RsvdUlp"/>).</summary>
    public uint InvalidateSTag => RsvdUlp;

    /// <summary>Untagged only: QN.</summary>
    public uint QueueNumber { get; }

    /// <summary>Untagged only: MSN, starting at 1 per queue.</summary>
    public uint MessageSequenceNumber { get; }

    /// <summary>Untagged only: MO, this segment's payload offset within the message.</summary>
    public uint MessageOffset { get; }

    /// <summary>Header length on the wire: 14 tagged, 18 untagged.</summary>
    public int Length => Tagged ? TaggedLength : UntaggedLength;

    /// <summary>The control octet as it would be written (reserved bits zero).</summary>
    public byte Control => (byte)((Tagged ? TaggedFlag : 0) | (Last ? LastFlag : 0) | (Dv & VersionMask));

    public static DdpHeader CreateTagged(byte rdmapControl, uint stag, ulong taggedOffset, bool last = true, byte dv = CurrentVersion) =>
        new(true, last, dv, 0, rdmapControl, stag, taggedOffset, 0, 0, 0, 0);

    public static DdpHeader CreateUntagged(byte rdmapControl, uint queueNumber, uint msn, uint messageOffset = 0, bool last = true,
        uint rsvdUlp = 0, byte dv = CurrentVersion) =>
        new(false, last, dv, 0, rdmapControl, 0, 0, rsvdUlp, queueNumber, msn, messageOffset);

    public DdpHeader WithLast(bool last) =>
        new(Tagged, last, Dv, Reserved, RdmapControl, STag, TaggedOffset, RsvdUlp, QueueNumber, MessageSequenceNumber, MessageOffset);

    public DdpHeader WithTaggedOffset(ulong taggedOffset) =>
        new(Tagged, Last, Dv, Reserved, RdmapControl, STag, taggedOffset, RsvdUlp, QueueNumber, MessageSequenceNumber, MessageOffset);

    public DdpHeader WithMessageOffset(uint messageOffset) =>
        new(Tagged, Last, Dv, Reserved, RdmapControl, STag, TaggedOffset, RsvdUlp, QueueNumber, MessageSequenceNumber, messageOffset);

    /// <summary>The header length implied by a control octet's T bit.</summary>
    public static int LengthFor(byte control) => (control & TaggedFlag) != 0 ? TaggedLength : UntaggedLength;

    /// <summary>
    /// Reads a header from the front of <paramref name="source"/>. Structural only: the T bit decides
    /// the length, nothing is validated (DV, reserved bits), so a Terminate's copy of a bad header reads
    /// too. NeedMoreData when the span is shorter than the header the T bit calls for.
    /// </summary>
    public static OperationStatus TryRead(ReadOnlySpan<byte> source, out DdpHeader header)
    {
        header = default;
        if (source.IsEmpty || source.Length < LengthFor(source[0]))
        {
            return OperationStatus.NeedMoreData;
        }
        byte control = source[0];
        bool last = (control & LastFlag) != 0;
        byte dv = (byte)(control & VersionMask);
        byte reserved = (byte)((control & ReservedMask) >> 2);
        header = (control & TaggedFlag) != 0
            ? new DdpHeader(true, last, dv, reserved, source[1],
                BinaryPrimitives.ReadUInt32BigEndian(source[2..]), BinaryPrimitives.ReadUInt64BigEndian(source[6..]), 0, 0, 0, 0)
            : new DdpHeader(false, last, dv, reserved, source[1], 0, 0,
                BinaryPrimitives.ReadUInt32BigEndian(source[2..]), BinaryPrimitives.ReadUInt32BigEndian(source[6..]),
                BinaryPrimitives.ReadUInt32BigEndian(source[10..]), BinaryPrimitives.ReadUInt32BigEndian(source[14..]));
        return OperationStatus.Done;
    }

    /// <summary>Writes <see cref="Length"/> octets, reserved control bits zero. Returns the length.</summary>
    public int Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Length, nameof(destination));
        destination[0] = Control;
        destination[1] = RdmapControl;
        if (Tagged)
        {
            BinaryPrimitives.WriteUInt32BigEndian(destination[2..], STag);
            BinaryPrimitives.WriteUInt64BigEndian(destination[6..], TaggedOffset);
            return TaggedLength;
        }
        BinaryPrimitives.WriteUInt32BigEndian(destination[2..], RsvdUlp);
        BinaryPrimitives.WriteUInt32BigEndian(destination[6..], QueueNumber);
        BinaryPrimitives.WriteUInt32BigEndian(destination[10..], MessageSequenceNumber);
        BinaryPrimitives.WriteUInt32BigEndian(destination[14..], MessageOffset);
        return UntaggedLength;
    }

    public bool Equals(DdpHeader other) =>
        Tagged == other.Tagged && Last == other.Last && Dv == other.Dv && Reserved == other.Reserved
        && RdmapControl == other.RdmapControl && STag == other.STag && TaggedOffset == other.TaggedOffset
        && RsvdUlp == other.RsvdUlp && QueueNumber == other.QueueNumber
        && MessageSequenceNumber == other.MessageSequenceNumber && MessageOffset == other.MessageOffset;

    public override bool Equals(object? obj) => obj is DdpHeader other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(Control, RdmapControl, STag, TaggedOffset, QueueNumber, MessageSequenceNumber, MessageOffset);

    public static bool operator ==(DdpHeader left, DdpHeader right) => left.Equals(right);

    public static bool operator !=(DdpHeader left, DdpHeader right) => !left.Equals(right);

    public override string ToString() => Tagged
        ? $"DDP tagged{(Last ? " L" : "")} DV {Dv} STag 0x{STag:X8} TO 0x{TaggedOffset:X}"
        : $"DDP untagged{(Last ? " L" : "")} DV {Dv} QN {QueueNumber} MSN {MessageSequenceNumber} MO {MessageOffset}";
}
