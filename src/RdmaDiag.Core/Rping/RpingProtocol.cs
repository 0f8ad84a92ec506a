using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace RdmaDiag.Rping;

/// <summary>
/// rping's (rdma-core librdmacm/examples/rping.c) protocol, so RdmaDiag talks to a stock `rping -s` and
/// serves a stock `rping -c`:
/// <code>
///  client                                              server
///    | Send: start buffer info (addr, rkey, size) -----> |
///    |                      &lt;----- RDMA Read of size octets from the start buffer
///    | &lt;----------------------------- Send: "go ahead" |  (16 octets, content unused)
///    | Send: sink buffer info (addr, rkey, size) ------> |
///    |      &lt;----- RDMA Write of strlen(data)+1 octets into the sink buffer
///    | &lt;----------------------------- Send: "go ahead" |
///    | compare sink with start (-V)                      |
///    repeat -C times (0: forever)
/// </code>
/// Every Send is one struct rping_rdma_info; a receive of any other length is "bogus data" to rping.
/// Defaults: port 7174, 64-octet buffers, IRD = ORD = 1 (rdma_conn_param responder_resources and
/// initiator_depth), no private data.
/// </summary>
public static class RpingProtocol
{
    public const int DefaultPort = 7174;

    public const int DefaultSize = 64;

    /// <summary>RPING_MIN_BUFSIZE: sizeof("2147483647") + sizeof("rdma-ping-%d: ") = 11 + 15.</summary>
    public const int MinSize = 26;

    /// <summary>RPING_BUFSIZE - 1: rping -S accepts up to 65535.</summary>
    public const int MaxSize = 65535;

    /// <summary>rping's IRD and ORD.</summary>
    public const byte ReadDepth = 1;

    /// <summary>The soft endpoint's setup with rping's IRD and ORD (what goes into the MPA v2 block).</summary>
    public static Endpoint.IwarpSetupOptions SoftSetup(Endpoint.IwarpSetupOptions setup) => setup with { Ird = ReadDepth, Ord = ReadDepth };

    /// <summary>Throws <see cref="UserInputException"/> unless <paramref name="size"/> is a size rping accepts.</summary>
    public static int CheckSize(int size, string option = "--size") => size is >= MinSize and <= MaxSize
        ? size
        : throw new UserInputException($"{option} {size} is outside rping's range: {MinSize} to {MaxSize} octets (rping -S)");
}

/// <summary>
/// struct rping_rdma_info, the only message rping Sends: where a buffer is and how to reach it.
/// <code>
///   0                   1                   2                   3
///   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |                 buf (__be64): the buffer's address            |  0
///  |                   (the tagged offset of its first octet)      |
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |                 rkey (__be32): the STag                       |  8
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///  |                 size (__be32): the buffer's length            | 12
///  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// </code>
/// The server's "go ahead" Sends are the same 16 octets, zero (rping never fills the server's send buffer).
/// </summary>
public readonly record struct RpingBufferInfo(ulong Address, uint RemoteKey, uint Size)
{
    public const int Length = 16;

    public void Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Length, nameof(destination));
        BinaryPrimitives.WriteUInt64BigEndian(destination, Address);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], RemoteKey);
        BinaryPrimitives.WriteUInt32BigEndian(destination[12..], Size);
    }

    /// <summary>Reads one message; false with rping's own complaint when it is not exactly 16 octets.</summary>
    public static bool TryRead(ReadOnlySpan<byte> message, out RpingBufferInfo info, out string error)
    {
        if (message.Length != Length)
        {
            info = default;
            error = $"received bogus data, size {message.Length}: an rping message is exactly {Length} octets (struct rping_rdma_info)";
            return false;
        }
        info = new RpingBufferInfo(
            BinaryPrimitives.ReadUInt64BigEndian(message),
            BinaryPrimitives.ReadUInt32BigEndian(message[8..]),
            BinaryPrimitives.ReadUInt32BigEndian(message[12..]));
        error = "";
        return true;
    }

    public override string ToString() => $"addr 0x{Address:X} rkey 0x{RemoteKey:X8} size {Size}";
}

/// <summary>
/// rping's ping data: "rdma-ping-N: " then printable ASCII rotating from 'A' (65) to 'z' (122), the
/// start letter advancing by one each ping, and a NUL in the last octet. As rping writes it with
/// snprintf into a buffer of the ping size, a prefix longer than the buffer is cut at size-1.
/// </summary>
public static class RpingPattern
{
    private const byte First = 65;
    private const byte Last = 122;
    private const int Letters = Last - First + 1;

    public static string Prefix(int ping) => string.Create(CultureInfo.InvariantCulture, $"rdma-ping-{ping}: ");

    /// <summary>Fills <paramref name="buffer"/> (the ping size) with ping <paramref name="ping"/>'s data.</summary>
    public static void Fill(Span<byte> buffer, int ping)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ping);
        if (buffer.IsEmpty)
        {
            return;
        }
        string prefix = Prefix(ping);
        int written = Math.Min(prefix.Length, buffer.Length - 1);
        Encoding.ASCII.GetBytes(prefix.AsSpan(0, written), buffer);
        byte c = (byte)(First + ping % Letters);
        for (int i = prefix.Length; i < buffer.Length; i++)
        {
            buffer[i] = c;
            c = c == Last ? First : (byte)(c + 1);
        }
        buffer[^1] = 0;
    }

    /// <summary>True when <paramref name="data"/> is ping <paramref name="ping"/>'s data; otherwise the first difference.</summary>
    public static bool Verify(ReadOnlySpan<byte> data, int ping, out string difference)
    {
        Span<byte> expected = data.Length <= 1024 ? stackalloc byte[data.Length] : new byte[data.Length];
        Fill(expected, ping);
        int same = data.CommonPrefixLength(expected);
        if (same == data.Length)
        {
            difference = "";
            return true;
        }
        difference = $"octet {same} of ping {ping} is {Show(data[same])}, rping's pattern has {Show(expected[same])}";
        return false;
    }

    /// <summary>The printable start of rping data, as `rping -v` shows it: up to the NUL.</summary>
    public static string Text(ReadOnlySpan<byte> data)
    {
        int end = data.IndexOf((byte)0);
        ReadOnlySpan<byte> text = end < 0 ? data : data[..end];
        var builder = new StringBuilder(text.Length);
        foreach (byte b in text)
        {
            builder.Append(b is >= 0x20 and < 0x7F ? (char)b : '.');
        }
        return builder.ToString();
    }

    private static string Show(byte b) => b is >= 0x20 and < 0x7F ? $"0x{b:X2} '{(char)b}'" : $"0x{b:X2}";
}
