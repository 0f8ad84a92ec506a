using System.Runtime.InteropServices;
using RdmaDiag.Native;

namespace RdmaDiag.Latency;

/// <summary>One control message from recvmsg: level, type and its data bytes.</summary>
public readonly ref struct ControlMessage(int level, int type, ReadOnlySpan<byte> data)
{
    public int Level { get; } = level;
    public int Type { get; } = type;
    public ReadOnlySpan<byte> Data { get; } = data;
}

/// <summary>
/// Walks the ancillary data recvmsg filled in (CMSG_FIRSTHDR / CMSG_NXTHDR), never throwing on a
/// malformed or truncated buffer: it stops at the first header that does not fit.
/// <code>
/// +---------------------+-----------+----------+-----+-------------------+-----+----------
/// | cmsg_len (size_t)   | level(i32)| type(i32)| pad | data (len - hdr)  | pad | next ...
/// +---------------------+-----------+----------+-----+-------------------+-----+----------
///  each header and each message start on a size_t boundary; cmsg_len counts header + data
/// </code>
/// </summary>
public ref struct ControlMessageReader(ReadOnlySpan<byte> control)
{
    private readonly ReadOnlySpan<byte> _control = control;
    private int _offset;

    public static int Alignment => IntPtr.Size;

    public static int HeaderLength => Align(Marshal.SizeOf<Interop.Libc.Cmsghdr>());

    /// <summary>CMSG_ALIGN.</summary>
    public static int Align(int length) => (length + Alignment - 1) & ~(Alignment - 1);

    /// <summary>CMSG_SPACE: bytes a message with this much data takes in the control buffer.</summary>
    public static int Space(int dataLength) => HeaderLength + Align(dataLength);

    /// <summary>CMSG_LEN: the cmsg_len value for this much data.</summary>
    public static int Length(int dataLength) => HeaderLength + dataLength;

    public ControlMessage Current { get; private set; }

    public readonly ControlMessageReader GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_offset < 0 || _offset + HeaderLength > _control.Length)
        {
            return false;
        }
        var header = _control.Slice(_offset, HeaderLength);
        var length = IntPtr.Size == 8
            ? (long)MemoryMarshal.Read<ulong>(header)
            : MemoryMarshal.Read<uint>(header);
        var level = MemoryMarshal.Read<int>(header[IntPtr.Size..]);
        var type = MemoryMarshal.Read<int>(header[(IntPtr.Size + 4)..]);
        if (length < HeaderLength || length > _control.Length - _offset)
        {
            _offset = -1;
            return false;
        }
        Current = new ControlMessage(level, type, _control.Slice(_offset + HeaderLength, (int)length - HeaderLength));
        var next = _offset + Align((int)length);
        _offset = next > _control.Length ? -1 : next;
        return true;
    }
}

/// <summary>
/// The three timespecs of struct scm_timestamping, in nanoseconds since the epoch, 0 when absent:
/// ts[0] software (CLOCK_REALTIME), ts[1] legacy and always zero, ts[2] raw hardware (the NIC's PHC).
/// </summary>
public readonly record struct KernelTimestamps(long Software, long Hardware)
{
    /// <summary>struct scm_timestamping { struct timespec ts[3]; } on LP64.</summary>
    public const int ScmTimestampingLength = 3 * 16;

    public bool IsEmpty => Software == 0 && Hardware == 0;

    /// <summary>Finds SOL_SOCKET / SCM_TIMESTAMPING among the control messages.</summary>
    public static bool TryRead(ReadOnlySpan<byte> control, out KernelTimestamps stamps)
    {
        foreach (var message in new ControlMessageReader(control))
        {
            if (message.Level == Interop.Libc.SOL_SOCKET && message.Type == Interop.Libc.SCM_TIMESTAMPING
                && message.Data.Length >= ScmTimestampingLength)
            {
                stamps = new KernelTimestamps(ReadTimespec(message.Data), ReadTimespec(message.Data[32..]));
                return true;
            }
        }
        stamps = default;
        return false;
    }

    private static long ReadTimespec(ReadOnlySpan<byte> data)
    {
        var seconds = MemoryMarshal.Read<long>(data);
        var nanoseconds = MemoryMarshal.Read<long>(data[8..]);
        return seconds * 1_000_000_000L + nanoseconds;
    }
}
