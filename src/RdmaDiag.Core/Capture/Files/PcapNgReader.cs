using System.Buffers.Binary;
using RdmaDiag.Diagnostics.Findings;

namespace RdmaDiag.Capture;

/// <summary>
/// Streams a pcapng file: any number of sections (each with its own byte order) and interfaces; Enhanced,
/// Simple and obsolete Packet Blocks yield packets; every other block is skipped by its length.
/// <code>
/// Every block:                      Section Header Block (type 0x0A0D0D0A, same in both byte orders)
/// +0  block type                    +8  byte-order magic 0x1A2B3C4D
/// +4  block total length (N)        +12 major (1) minor (0)    +16 section length (i64, -1 = unknown)
/// +8  body ...                      +24 options
/// +N-4 block total length again
///
/// Interface Description (1)         Enhanced Packet (6)                Simple Packet (3)
/// +8  link type u16, reserved u16   +8  interface id                   +8  original length
/// +12 snaplen                       +12 timestamp high, +16 low        +12 data (captured = min(orig, snaplen))
/// +16 options: if_tsresol (9),      +20 captured length, +24 original
///     if_filter (11), if_tsoffset (14)  +28 data, padded to 4; options
/// </code>
/// </summary>
public sealed class PcapNgReader : IPacketSource
{
    public const uint SectionHeaderType = 0x0A0D0D0A;
    public const uint InterfaceDescriptionType = 1;
    public const uint ObsoletePacketType = 2;
    public const uint SimplePacketType = 3;
    public const uint EnhancedPacketType = 6;
    private const uint ByteOrderMagic = 0x1A2B3C4D;

    /// <summary>Blocks longer than this are corruption if they hold packets; other long blocks are skipped unread.</summary>
    public const int MaxBlockLength = 16 << 20;

    private readonly StreamWindow _window;
    private readonly IFindingSink _findings;
    private readonly string _name;
    private readonly List<Interface> _interfaces = [];
    private bool _bigEndian;
    private long _frame;
    private bool _ended;

    private readonly record struct Interface(LinkType LinkType, int SnapLength, TimestampScale Scale, long OffsetNanos);

    private PcapNgReader(StreamWindow window, IFindingSink findings, string name)
    {
        _window = window;
        _findings = findings;
        _name = name;
    }

    /// <summary>Link types of the interfaces described so far in the current section.</summary>
    public IReadOnlyList<LinkType> InterfaceLinkTypes => _interfaces.ConvertAll(i => i.LinkType);

    public bool IsBigEndian => _bigEndian;

    public static bool IsPcapNgMagic(ReadOnlySpan<byte> first4) => BinaryPrimitives.ReadUInt32LittleEndian(first4) == SectionHeaderType;

    /// <summary>Reads the first Section Header Block. Throws <see cref="UserInputException"/> when it is not a usable pcapng file.</summary>
    public static PcapNgReader Open(Stream stream, string name, IFindingSink findings)
    {
        var reader = new PcapNgReader(new StreamWindow(stream), findings, name);
        try
        {
            if (!reader._window.Ensure(28))
            {
                throw new UserInputException($"'{name}': pcapng section header is truncated ({reader._window.Available} of 28 octets)");
            }
            if (!IsPcapNgMagic(reader._window.Peek(4)))
            {
                throw new UserInputException($"'{name}': not a pcapng file (first block type 0x{BinaryPrimitives.ReadUInt32LittleEndian(reader._window.Peek(4)):x8})");
            }
            if (!reader.ReadSectionHeader(out var problem))
            {
                throw new UserInputException($"'{name}': {problem}");
            }
            return reader;
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    public PacketReadResult Read(out RawPacket packet)
    {
        packet = default;
        while (!_ended)
        {
            if (!_window.Ensure(8))
            {
                if (_window.Available > 0)
                {
                    _findings.Report(CaptureRules.TruncatedPacket.At(_frame + 1, null,
                        $"The file ends inside a block header ({_window.Available} of 8 octets at offset {_window.Position})."));
                }
                _ended = true;
                break;
            }
            var head = _window.Peek(8);
            var type = U32(head);
            if (type == SectionHeaderType)
            {
                if (!ReadSectionHeader(out var problem))
                {
                    Corrupt(problem);
                }
                continue;
            }
            var length = U32(head[4..]);
            if (length < 12 || (length & 3) != 0)
            {
                Corrupt($"block of type {type} at offset {_window.Position} has length {length} (expected a multiple of 4, at least 12)");
                break;
            }
            var isPacket = type is EnhancedPacketType or SimplePacketType or ObsoletePacketType;
            if (type != InterfaceDescriptionType && !isPacket)
            {
                if (!_window.Skip(length))
                {
                    _findings.Report(CaptureRules.TruncatedPacket.At(null, null,
                        $"The file ends inside a block of type {type} that should be {length} octets long."));
                    _ended = true;
                }
                continue;
            }
            if (length > MaxBlockLength)
            {
                Corrupt($"block of type {type} at offset {_window.Position} claims {length} octets (limit {MaxBlockLength})");
                break;
            }
            var complete = _window.Ensure((int)length);
            if (type == InterfaceDescriptionType)
            {
                if (!complete)
                {
                    Corrupt($"the file ends inside an interface description block at offset {_window.Position}");
                    break;
                }
                ReadInterface(_window.Peek((int)length));
                _window.Advance((int)length);
                continue;
            }
            if (TryPacket(type, complete ? _window.Peek((int)length) : _window.PeekAvailable(), (int)length, complete, out packet))
            {
                _window.Advance(complete ? (int)length : _window.Available);
                if (!complete)
                {
                    _ended = true;
                }
                return PacketReadResult.Packet;
            }
            if (!complete)
            {
                _ended = true;
                break;
            }
            _window.Advance((int)length);
        }
        return PacketReadResult.End;
    }

    private bool TryPacket(uint type, ReadOnlySpan<byte> block, int length, bool complete, out RawPacket packet)
    {
        packet = default;
        var frame = _frame + 1;
        int ifIndex;
        ulong units;
        int captured;
        int original;
        int dataAt;
        if (type == SimplePacketType)
        {
            if (block.Length < 12)
            {
                return Truncated(frame, block.Length, length);
            }
            ifIndex = 0;
            units = 0;
            original = (int)Math.Min(U32(block[8..]), int.MaxValue);
            dataAt = 12;
            captured = Math.Min(original, length - 16);
            if (_interfaces.Count > 0 && _interfaces[0].SnapLength > 0)
            {
                captured = Math.Min(captured, _interfaces[0].SnapLength);
            }
        }
        else
        {
            if (block.Length < 28)
            {
                return Truncated(frame, block.Length, length);
            }
            if (type == EnhancedPacketType)
            {
                ifIndex = (int)Math.Min(U32(block[8..]), int.MaxValue);
            }
            else
            {
                ifIndex = _bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(block[8..]) : BinaryPrimitives.ReadUInt16LittleEndian(block[8..]);
            }
            units = ((ulong)U32(block[12..]) << 32) | U32(block[16..]);
            var cap = U32(block[20..]);
            original = (int)Math.Min(U32(block[24..]), int.MaxValue);
            dataAt = 28;
            if (cap > (uint)(length - 32))
            {
                Corrupt($"frame {frame}: packet block of {length} octets claims {cap} captured octets");
                return false;
            }
            captured = (int)cap;
        }
        if (ifIndex >= _interfaces.Count)
        {
            Corrupt($"frame {frame}: packet names interface {ifIndex}, but only {_interfaces.Count} interfaces are described");
            return false;
        }
        var iface = _interfaces[ifIndex];
        var ts = type == SimplePacketType ? 0 : iface.Scale.ToNanos(units) + iface.OffsetNanos;
        if (!complete)
        {
            var have = Math.Max(0, block.Length - dataAt);
            _findings.Report(CaptureRules.TruncatedPacket.At(frame, null,
                $"Frame {frame} is cut short: its block says {captured} captured octets, the file ends after {Math.Min(have, captured)}."));
            captured = Math.Min(have, captured);
        }
        _frame = frame;
        packet = new RawPacket(frame, ts, iface.LinkType, ifIndex, Math.Max(original, captured), block.Slice(dataAt, captured));
        return true;
    }

    private bool Truncated(long frame, int have, int length)
    {
        _findings.Report(CaptureRules.TruncatedPacket.At(frame, null,
            $"The file ends inside the header of frame {frame} ({have} of {length} octets)."));
        return false;
    }

    private bool ReadSectionHeader(out string problem)
    {
        problem = "";
        if (!_window.Ensure(28))
        {
            problem = $"section header block at offset {_window.Position} is truncated";
            return false;
        }
        var head = _window.Peek(28);
        var magic = BinaryPrimitives.ReadUInt32LittleEndian(head[8..]);
        if (magic == ByteOrderMagic)
        {
            _bigEndian = false;
        }
        else if (BinaryPrimitives.ReverseEndianness(magic) == ByteOrderMagic)
        {
            _bigEndian = true;
        }
        else
        {
            problem = $"section header at offset {_window.Position} has byte-order magic 0x{magic:x8} (expected 0x1a2b3c4d in either byte order)";
            return false;
        }
        var length = U32(head[4..]);
        var major = _bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(head[12..]) : BinaryPrimitives.ReadUInt16LittleEndian(head[12..]);
        if (major != 1)
        {
            problem = $"pcapng version {major} is not supported (expected 1)";
            return false;
        }
        if (length < 28 || (length & 3) != 0 || length > MaxBlockLength)
        {
            problem = $"section header at offset {_window.Position} has length {length}";
            return false;
        }
        if (!_window.Skip(length))
        {
            problem = "the file ends inside a section header block";
            return false;
        }
        _interfaces.Clear();
        return true;
    }

    private void ReadInterface(ReadOnlySpan<byte> block)
    {
        var linkType = (LinkType)(_bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(block[8..]) : BinaryPrimitives.ReadUInt16LittleEndian(block[8..]));
        if (!LinkTypes.IsSupported(linkType))
        {
            throw new UserInputException($"'{_name}': interface {_interfaces.Count} has link type {(int)linkType}, which is not supported (supported: {LinkTypes.SupportedList})");
        }
        var snap = (int)Math.Min(U32(block[12..]), int.MaxValue);
        var scale = TimestampScale.Microseconds;
        long offset = 0;
        var options = block[16..^4];
        while (options.Length >= 4)
        {
            var code = U16(options);
            var len = U16(options[2..]);
            if (code == 0 || 4 + len > options.Length)
            {
                break;
            }
            var value = options.Slice(4, len);
            if (code == 9 && len >= 1)
            {
                scale = TimestampScale.FromTsresol(value[0]);
            }
            else if (code == 14 && len >= 8)
            {
                offset = (_bigEndian ? BinaryPrimitives.ReadInt64BigEndian(value) : BinaryPrimitives.ReadInt64LittleEndian(value)) * 1_000_000_000L;
            }
            options = options[Math.Min(options.Length, 4 + ((len + 3) & ~3))..];
        }
        _interfaces.Add(new Interface(linkType, snap, scale, offset));
    }

    private void Corrupt(string problem)
    {
        _findings.Report(CaptureRules.CorruptRecord.At(null, null, $"{problem}; the rest of the file is not read."));
        _ended = true;
    }

    private uint U32(ReadOnlySpan<byte> s) => _bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(s) : BinaryPrimitives.ReadUInt32LittleEndian(s);

    private int U16(ReadOnlySpan<byte> s) => _bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(s) : BinaryPrimitives.ReadUInt16LittleEndian(s);

    public void Dispose() => _window.Dispose();
}
