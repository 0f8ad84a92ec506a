using System.Buffers.Binary;
using System.Text;

namespace RdmaDiag.Capture;

/// <summary>
/// Writes a little-endian pcapng file: one Section Header Block, Interface Description Blocks with
/// <c>if_tsresol = 9</c> (nanoseconds), and Enhanced Packet Blocks. Everything goes to <c>PATH.tmp</c>;
/// <see cref="Commit"/> flushes it to disk and renames it to PATH, so an error or a kill never leaves a
/// half-written file under the requested name, and a cancelled capture that commits is still valid.
/// Every block is written whole, so even PATH.tmp ends on a block boundary unless the process dies mid-write.
/// </summary>
public sealed class PcapNgWriter : IDisposable
{
    private const ushort OptEnd = 0;
    private const ushort OptComment = 1;
    private const ushort ShbUserApplication = 4;
    private const ushort IfName = 2;
    private const ushort IfTsresol = 9;
    private const ushort IfFilter = 11;

    private readonly FileStream _stream;
    private readonly string _tempPath;
    private byte[] _scratch = new byte[64 * 1024];
    private int _interfaces;
    private bool _committed;

    private PcapNgWriter(FileStream stream, string path, string tempPath)
    {
        _stream = stream;
        Path = path;
        _tempPath = tempPath;
    }

    /// <summary>Where the file will be once committed.</summary>
    public string Path { get; }

    public long PacketsWritten { get; private set; }

    /// <summary>
    /// Creates <c>path.tmp</c> and writes the Section Header Block. Throws <see cref="UserInputException"/>
    /// when the location is not writable.
    /// </summary>
    public static PcapNgWriter Create(string path, string? comment = null)
    {
        var temp = path + ".tmp";
        FileStream stream;
        try
        {
            if (Directory.Exists(path))
            {
                throw new UserInputException($"'{path}': is a directory (expected a file name for the pcapng capture)");
            }
            stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new UserInputException($"'{path}': cannot write the capture file ({temp}): {e.Message}");
        }
        var writer = new PcapNgWriter(stream, path, temp);
        writer.WriteSectionHeader(comment);
        return writer;
    }

    /// <summary>
    /// Describes an interface; returns its id for <see cref="Write"/>. <paramref name="filter"/> (the BPF
    /// expression) is stored as <c>if_filter</c> and repeated as a comment so every reader shows it.
    /// </summary>
    public int AddInterface(LinkType linkType, int snapLength, string? name = null, string? filter = null)
    {
        var b = Block();
        b.U16((ushort)linkType);
        b.U16(0);
        b.U32((uint)snapLength);
        if (name is not null)
        {
            b.Option(IfName, Encoding.UTF8.GetBytes(name));
        }
        b.Option(IfTsresol, [9]);
        if (filter is not null)
        {
            var utf8 = Encoding.UTF8.GetBytes(filter);
            var value = new byte[utf8.Length + 1];
            utf8.CopyTo(value, 1);
            b.Option(IfFilter, value);
            b.Option(OptComment, Encoding.UTF8.GetBytes($"capture filter: {filter}"));
        }
        b.Option(OptEnd, []);
        Finish(b, PcapNgReader.InterfaceDescriptionType);
        return _interfaces++;
    }

    /// <summary>Appends one packet as an Enhanced Packet Block.</summary>
    public void Write(int interfaceId, long timestampNanos, int originalLength, ReadOnlySpan<byte> data)
    {
        if ((uint)interfaceId >= (uint)_interfaces)
        {
            throw new ArgumentOutOfRangeException(nameof(interfaceId), interfaceId, $"only {_interfaces} interfaces were added");
        }
        var need = 32 + ((data.Length + 3) & ~3);
        if (need > _scratch.Length)
        {
            _scratch = new byte[Math.Max(need, _scratch.Length * 2)];
        }
        var s = _scratch.AsSpan(0, need);
        var ts = (ulong)timestampNanos;
        BinaryPrimitives.WriteUInt32LittleEndian(s, PcapNgReader.EnhancedPacketType);
        BinaryPrimitives.WriteUInt32LittleEndian(s[4..], (uint)need);
        BinaryPrimitives.WriteUInt32LittleEndian(s[8..], (uint)interfaceId);
        BinaryPrimitives.WriteUInt32LittleEndian(s[12..], (uint)(ts >> 32));
        BinaryPrimitives.WriteUInt32LittleEndian(s[16..], (uint)ts);
        BinaryPrimitives.WriteUInt32LittleEndian(s[20..], (uint)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(s[24..], (uint)Math.Max(originalLength, data.Length));
        data.CopyTo(s[28..]);
        s.Slice(28 + data.Length, need - 32 - data.Length).Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(s[(need - 4)..], (uint)need);
        _stream.Write(s);
        PacketsWritten++;
    }

    /// <summary>Flushes to disk and renames <c>PATH.tmp</c> to PATH. After this, Dispose leaves the file alone.</summary>
    public void Commit()
    {
        if (_committed)
        {
            return;
        }
        _stream.Flush(flushToDisk: true);
        _stream.Dispose();
        File.Move(_tempPath, Path, overwrite: true);
        _committed = true;
    }

    /// <summary>Without a <see cref="Commit"/>, removes <c>PATH.tmp</c>: an unfinished capture never appears under PATH.</summary>
    public void Dispose()
    {
        if (_committed)
        {
            return;
        }
        _stream.Dispose();
        try
        {
            File.Delete(_tempPath);
        }
        catch (IOException)
        {
            // Leaving PATH.tmp behind is harmless: PATH itself was never written.
        }
    }

    private void WriteSectionHeader(string? comment)
    {
        var b = Block();
        b.U32(0x1A2B3C4D);
        b.U16(1);
        b.U16(0);
        b.U32(0xFFFFFFFF);
        b.U32(0xFFFFFFFF);
        if (comment is not null)
        {
            b.Option(OptComment, Encoding.UTF8.GetBytes(comment));
        }
        b.Option(ShbUserApplication, Encoding.UTF8.GetBytes($"rdmadiag {typeof(PcapNgWriter).Assembly.GetName().Version?.ToString(3)}"));
        b.Option(OptEnd, []);
        Finish(b, PcapNgReader.SectionHeaderType);
    }

    private static BlockBuilder Block() => new(new MemoryStream());

    private void Finish(BlockBuilder b, uint type)
    {
        var body = b.Body.ToArray();
        var total = 12 + body.Length;
        var block = new byte[total];
        BinaryPrimitives.WriteUInt32LittleEndian(block, type);
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(4), (uint)total);
        body.CopyTo(block, 8);
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(total - 4), (uint)total);
        _stream.Write(block);
    }

    /// <summary>Builds the body of a non-packet block (rare, so simplicity over speed).</summary>
    private readonly struct BlockBuilder(MemoryStream body)
    {
        public MemoryStream Body => body;

        public void U16(ushort v)
        {
            Span<byte> s = stackalloc byte[2];
            BinaryPrimitives.WriteUInt16LittleEndian(s, v);
            body.Write(s);
        }

        public void U32(uint v)
        {
            Span<byte> s = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(s, v);
            body.Write(s);
        }

        /// <summary>code u16, length u16, value, zero padding to 4.</summary>
        public void Option(ushort code, ReadOnlySpan<byte> value)
        {
            U16(code);
            U16((ushort)value.Length);
            body.Write(value);
            Span<byte> pad = stackalloc byte[4];
            pad.Clear();
            body.Write(pad[..((4 - (value.Length & 3)) & 3)]);
        }
    }
}
