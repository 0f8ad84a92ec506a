using RdmaDiag.Diagnostics.Findings;

namespace RdmaDiag.Capture;

/// <summary>Opens a capture file of either format by its first octets.</summary>
public static class CaptureFile
{
    /// <summary>
    /// Opens <paramref name="path"/> as pcap or pcapng. Throws <see cref="UserInputException"/> when the file is
    /// missing, unreadable, empty, not a capture, or of an unsupported link type. Problems inside the file
    /// (truncation, corrupt records) become findings in <paramref name="findings"/> as it is read.
    /// </summary>
    public static IPacketSource Open(string path, IFindingSink findings)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new UserInputException($"'{path}': cannot open capture file: {e.Message}");
        }
        try
        {
            return Open(stream, path, findings);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Opens a capture from a stream (owned by the returned source); <paramref name="name"/> is used in messages.</summary>
    public static IPacketSource Open(Stream stream, string name, IFindingSink findings)
    {
        Span<byte> magic = stackalloc byte[4];
        var n = stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
        if (n == 0)
        {
            throw new UserInputException($"'{name}': the file is empty (expected a pcap or pcapng capture)");
        }
        if (n < 4)
        {
            throw new UserInputException($"'{name}': the file is {n} octets long, too short for a capture file");
        }
        Stream prefixed;
        if (stream.CanSeek)
        {
            stream.Position -= n;
            prefixed = stream;
        }
        else
        {
            prefixed = new PrefixedStream(magic.ToArray(), stream);
        }
        if (PcapNgReader.IsPcapNgMagic(magic))
        {
            return PcapNgReader.Open(prefixed, name, findings);
        }
        if (PcapFileReader.IsPcapMagic(magic))
        {
            return PcapFileReader.Open(prefixed, name, findings);
        }
        throw new UserInputException($"'{name}': not a capture file (first octets {Convert.ToHexString(magic)}; expected a pcap magic A1B2C3D4/A1B23C4D or pcapng 0A0D0D0A)");
    }

    /// <summary>Replays the sniffed magic before the rest of a stream that may not seek (a pipe).</summary>
    private sealed class PrefixedStream(byte[] prefix, Stream inner) : Stream
    {
        private int _prefixAt;

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_prefixAt < prefix.Length)
            {
                var n = Math.Min(buffer.Length, prefix.Length - _prefixAt);
                prefix.AsSpan(_prefixAt, n).CopyTo(buffer);
                _prefixAt += n;
                return n;
            }
            return inner.Read(buffer);
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
