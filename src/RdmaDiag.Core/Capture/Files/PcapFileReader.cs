using System.Buffers.Binary;
using RdmaDiag.Diagnostics.Findings;

namespace RdmaDiag.Capture;

/// <summary>
/// Streams a classic pcap file (microsecond or nanosecond timestamps, either byte order).
/// <code>
/// File header (24 octets)                    Record header (16 octets), then incl_len octets of data
/// +0  magic  a1b2c3d4 (µs) / a1b23c4d (ns)   +0  ts_sec
/// +4  version_major (2)  version_minor (4)   +4  ts_usec, or ts_nsec for the ns magic
/// +8  thiszone (0)                           +8  incl_len  (octets in the file)
/// +12 sigfigs (0)                            +12 orig_len  (octets on the wire)
/// +16 snaplen
/// +20 linktype (low 16 bits; FCS flags above)
/// </code>
/// The magic's byte order is the file's byte order.
/// </summary>
public sealed class PcapFileReader : IPacketSource
{
    public const int HeaderLength = 24;
    private const int RecordHeaderLength = 16;

    /// <summary>Records larger than this are taken as corruption, not data (libpcap's own limit is 256 KiB).</summary>
    public const int MaxRecordLength = 16 << 20;

    private readonly StreamWindow _window;
    private readonly IFindingSink _findings;
    private readonly bool _bigEndian;
    private readonly long _fractionToNanos;
    private long _frame;
    private bool _ended;

    private PcapFileReader(StreamWindow window, IFindingSink findings, bool bigEndian, bool nanos, LinkType linkType, int snapLength, int major, int minor)
    {
        _window = window;
        _findings = findings;
        _bigEndian = bigEndian;
        _fractionToNanos = nanos ? 1 : 1000;
        LinkType = linkType;
        SnapLength = snapLength;
        VersionMajor = major;
        VersionMinor = minor;
        IsNanosecond = nanos;
    }

    public LinkType LinkType { get; }
    public int SnapLength { get; }
    public bool IsNanosecond { get; }
    public bool IsBigEndian => _bigEndian;
    public int VersionMajor { get; }
    public int VersionMinor { get; }

    /// <summary>True when the four octets are a pcap magic in either byte order.</summary>
    public static bool IsPcapMagic(ReadOnlySpan<byte> first4)
    {
        var m = BinaryPrimitives.ReadUInt32LittleEndian(first4);
        return m is 0xa1b2c3d4 or 0xd4c3b2a1 or 0xa1b23c4d or 0x4d3cb2a1;
    }

    /// <summary>Reads the file header. Throws <see cref="UserInputException"/> naming <paramref name="name"/> when it is not a usable pcap file.</summary>
    public static PcapFileReader Open(Stream stream, string name, IFindingSink findings)
    {
        var window = new StreamWindow(stream);
        try
        {
            if (!window.Ensure(HeaderLength))
            {
                throw new UserInputException($"'{name}': pcap file header is truncated ({window.Available} of {HeaderLength} octets)");
            }
            var h = window.Peek(HeaderLength);
            var magic = BinaryPrimitives.ReadUInt32LittleEndian(h);
            var (bigEndian, nanos) = magic switch
            {
                0xa1b2c3d4 => (false, false),
                0xa1b23c4d => (false, true),
                0xd4c3b2a1 => (true, false),
                0x4d3cb2a1 => (true, true),
                _ => throw new UserInputException($"'{name}': not a pcap file (magic 0x{magic:x8})"),
            };
            var major = bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(h[4..]) : BinaryPrimitives.ReadUInt16LittleEndian(h[4..]);
            var minor = bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(h[6..]) : BinaryPrimitives.ReadUInt16LittleEndian(h[6..]);
            var snapField = bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(h[16..]) : BinaryPrimitives.ReadUInt32LittleEndian(h[16..]);
            var linkField = bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(h[20..]) : BinaryPrimitives.ReadUInt32LittleEndian(h[20..]);
            if (major != 2)
            {
                throw new UserInputException($"'{name}': pcap version {major}.{minor} is not supported (expected 2.x)");
            }
            var linkType = (LinkType)(linkField & 0xFFFF);
            if (!LinkTypes.IsSupported(linkType))
            {
                throw new UserInputException($"'{name}': link type {(int)linkType} is not supported (supported: {LinkTypes.SupportedList})");
            }
            var snap = (int)Math.Min(snapField, int.MaxValue);
            window.Advance(HeaderLength);
            return new PcapFileReader(window, findings, bigEndian, nanos, linkType, snap, major, minor);
        }
        catch
        {
            window.Dispose();
            throw;
        }
    }

    public PacketReadResult Read(out RawPacket packet)
    {
        packet = default;
        if (_ended)
        {
            return PacketReadResult.End;
        }
        if (!_window.Ensure(RecordHeaderLength))
        {
            if (_window.Available > 0)
            {
                _findings.Report(CaptureRules.TruncatedPacket.At(_frame + 1, null,
                    $"The file ends inside the record header of frame {_frame + 1} ({_window.Available} of {RecordHeaderLength} octets at offset {_window.Position})."));
            }
            return End();
        }
        var r = _window.Peek(RecordHeaderLength);
        var sec = U32(r);
        var frac = U32(r[4..]);
        var incl = U32(r[8..]);
        var orig = U32(r[12..]);
        var frame = _frame + 1;
        if (incl > MaxRecordLength)
        {
            _findings.Report(CaptureRules.CorruptRecord.At(frame, null,
                $"Record header at offset {_window.Position} claims {incl} captured octets (limit {MaxRecordLength}); the rest of the file is not read."));
            return End();
        }
        var ts = sec * 1_000_000_000L + frac * _fractionToNanos;
        var origLength = (int)Math.Min(Math.Max(orig, incl), int.MaxValue);
        if (!_window.Ensure(RecordHeaderLength + (int)incl))
        {
            var have = _window.Available - RecordHeaderLength;
            _findings.Report(CaptureRules.TruncatedPacket.At(frame, null,
                $"Frame {frame} is cut short: its record says {incl} captured octets, the file ends after {have}."));
            _frame = frame;
            packet = new RawPacket(frame, ts, LinkType, 0, origLength, _window.PeekAvailable()[RecordHeaderLength..]);
            _window.Advance(_window.Available);
            _ended = true;
            return PacketReadResult.Packet;
        }
        _window.Advance(RecordHeaderLength);
        _frame = frame;
        packet = new RawPacket(frame, ts, LinkType, 0, origLength, _window.Peek((int)incl));
        _window.Advance((int)incl);
        return PacketReadResult.Packet;
    }

    private uint U32(ReadOnlySpan<byte> s) => _bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(s) : BinaryPrimitives.ReadUInt32LittleEndian(s);

    private PacketReadResult End()
    {
        _ended = true;
        return PacketReadResult.End;
    }

    public void Dispose() => _window.Dispose();
}
