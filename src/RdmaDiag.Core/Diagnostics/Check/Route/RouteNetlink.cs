using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using RdmaDiag.Native;

namespace RdmaDiag.Diagnostics.Check.Route;

/// <summary>
/// Asks the kernel the two questions <c>ip route get ADDR</c> asks, over rtnetlink: RTM_GETROUTE for the
/// route to an address (output interface, gateway, preferred source, cached path MTU), and RTM_GETLINK
/// for an interface's name and MTU. The socket belongs to the network namespace of the thread that opens it.
/// <code>
///  nlmsghdr (16, host byte order)          rtmsg (12)                         rtattr (4 + value, padded to 4)
///  +--------+------+-------+-----+-----+   +------+-------+-------+-----+     +-------+------+----------+
///  | len u32|type16|flags16|seq32|pid32|   |family|dst_len|src_len| tos |     | len16 |type16| value... |
///  +--------+------+-------+-----+-----+   +------+-------+-------+-----+     +-------+------+----------+
///                                          |table |proto  |scope  |type |
///                                          +------+-------+-------+-----+
///                                          |        flags u32           |
///                                          +----------------------------+
///  ifinfomsg (16): family u8, pad u8, type u16, index s32, flags u32, change u32
/// </code>
/// Every integer is host order (little-endian here) except the addresses, which are network order.
/// </summary>
internal sealed class RouteNetlink : IDisposable
{
    private const int HeaderLength = 16;
    private const ushort NLMSG_ERROR = 2;
    private const ushort NLM_F_REQUEST = 1;
    private const ushort RTM_NEWLINK = 16;
    private const ushort RTM_GETLINK = 18;
    private const ushort RTM_NEWROUTE = 24;
    private const ushort RTM_GETROUTE = 26;
    private const ushort RTA_DST = 1;
    private const ushort RTA_OIF = 4;
    private const ushort RTA_GATEWAY = 5;
    private const ushort RTA_PREFSRC = 7;
    private const ushort RTA_METRICS = 8;
    private const ushort RTA_TABLE = 15;
    private const ushort RTAX_MTU = 2;
    private const ushort IFLA_IFNAME = 3;
    private const ushort IFLA_MTU = 4;

    private readonly SafeFileHandle _socket;
    private readonly byte[] _buffer = new byte[32 * 1024];
    private uint _sequence;

    private RouteNetlink(SafeFileHandle socket) => _socket = socket;

    /// <summary>Opens an rtnetlink socket whose receives give up after <paramref name="timeout"/>.</summary>
    public static unsafe RouteNetlink Open(TimeSpan timeout)
    {
        int fd = Interop.Libc.socket(Interop.Libc.AF_NETLINK, Interop.Libc.SOCK_RAW | Interop.Libc.SOCK_CLOEXEC, Interop.Libc.NETLINK_ROUTE);
        if (fd < 0)
        {
            throw Interop.Libc.LastError("socket(AF_NETLINK, NETLINK_ROUTE)");
        }
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        var tv = new Interop.Libc.Timeval
        {
            tv_sec = (long)timeout.TotalSeconds,
            tv_usec = Math.Max(1, (long)(timeout.TotalMicroseconds % 1_000_000)),
        };
        if (Interop.Libc.setsockopt(fd, Interop.Libc.SOL_SOCKET, Interop.Libc.SO_RCVTIMEO, &tv, (uint)sizeof(Interop.Libc.Timeval)) != 0)
        {
            var error = Interop.Libc.LastError("setsockopt(SO_RCVTIMEO)");
            handle.Dispose();
            throw error;
        }
        return new RouteNetlink(handle);
    }

    /// <summary>RTM_GETROUTE for <paramref name="destination"/>: the route, or the kernel's errno when there is none.</summary>
    public RouteAnswer GetRoute(IPAddress destination)
    {
        byte[] address = destination.GetAddressBytes();
        Span<byte> request = stackalloc byte[HeaderLength + 12 + 4 + 16];
        request.Clear();
        int length = HeaderLength + 12 + Attribute(request[(HeaderLength + 12)..], RTA_DST, address);
        request[HeaderLength] = (byte)(destination.AddressFamily == AddressFamily.InterNetworkV6 ? 10 : 2);
        request[HeaderLength + 1] = (byte)(address.Length * 8);
        ReadOnlySpan<byte> reply = Exchange(request[..length], RTM_GETROUTE, out int errno);
        if (errno != 0)
        {
            return new RouteAnswer(null, errno);
        }
        if (reply.Length < 12)
        {
            throw new IOException($"rtnetlink answered RTM_GETROUTE with {reply.Length} octets, shorter than an rtmsg");
        }
        var route = new RawRoute { Type = reply[7], Table = reply[4] };
        foreach (var (type, value) in Attributes(reply[12..]))
        {
            switch (type)
            {
                case RTA_OIF when value.Length >= 4:
                    route.InterfaceIndex = BinaryPrimitives.ReadInt32LittleEndian(value);
                    break;
                case RTA_GATEWAY:
                    route.Gateway = new IPAddress(value);
                    break;
                case RTA_PREFSRC:
                    route.Source = new IPAddress(value);
                    break;
                case RTA_TABLE when value.Length >= 4:
                    route.Table = (int)BinaryPrimitives.ReadUInt32LittleEndian(value);
                    break;
                case RTA_METRICS:
                    foreach (var (metric, metricValue) in Attributes(value))
                    {
                        if (metric == RTAX_MTU && metricValue.Length >= 4)
                        {
                            route.PathMtu = (int)BinaryPrimitives.ReadUInt32LittleEndian(metricValue);
                        }
                    }
                    break;
            }
        }
        return new RouteAnswer(route, 0);
    }

    /// <summary>RTM_GETLINK by index: the interface's name and MTU (null when the kernel has no such interface).</summary>
    public (string? Name, int? Mtu) GetLink(int index)
    {
        Span<byte> request = stackalloc byte[HeaderLength + 16];
        request.Clear();
        BinaryPrimitives.WriteInt32LittleEndian(request[(HeaderLength + 4)..], index);
        ReadOnlySpan<byte> reply = Exchange(request, RTM_GETLINK, out int errno);
        if (errno != 0 || reply.Length < 16)
        {
            return (null, null);
        }
        string? name = null;
        int? mtu = null;
        foreach (var (type, value) in Attributes(reply[16..]))
        {
            if (type == IFLA_IFNAME)
            {
                int end = value.IndexOf((byte)0);
                name = System.Text.Encoding.ASCII.GetString(end < 0 ? value : value[..end]);
            }
            else if (type == IFLA_MTU && value.Length >= 4)
            {
                mtu = (int)BinaryPrimitives.ReadUInt32LittleEndian(value);
            }
        }
        return (name, mtu);
    }

    /// <summary>Sends one request and returns the payload of its answer (after the nlmsghdr), or the errno of an NLMSG_ERROR.</summary>
    private unsafe ReadOnlySpan<byte> Exchange(Span<byte> request, ushort type, out int errno)
    {
        uint sequence = ++_sequence;
        BinaryPrimitives.WriteUInt32LittleEndian(request, (uint)request.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(request[4..], type);
        BinaryPrimitives.WriteUInt16LittleEndian(request[6..], NLM_F_REQUEST);
        BinaryPrimitives.WriteUInt32LittleEndian(request[8..], sequence);
        fixed (byte* p = request)
        {
            if (Interop.Libc.send(_socket, p, (nuint)request.Length, 0) < 0)
            {
                throw Interop.Libc.LastError("send(rtnetlink)");
            }
        }
        while (true)
        {
            nint received;
            fixed (byte* p = _buffer)
            {
                received = Interop.Libc.recv(_socket, p, (nuint)_buffer.Length, 0);
            }
            if (received < 0)
            {
                int error = Marshal.GetLastPInvokeError();
                if (error == Interop.Libc.EINTR)
                {
                    continue;
                }
                throw Interop.Libc.Error("recv(rtnetlink)", error);
            }
            ReadOnlySpan<byte> messages = _buffer.AsSpan(0, (int)received);
            while (messages.Length >= HeaderLength)
            {
                int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(messages);
                if (length < HeaderLength || length > messages.Length)
                {
                    break;
                }
                ushort answerType = BinaryPrimitives.ReadUInt16LittleEndian(messages[4..]);
                uint answerSequence = BinaryPrimitives.ReadUInt32LittleEndian(messages[8..]);
                ReadOnlySpan<byte> payload = messages[HeaderLength..length];
                messages = messages[Math.Min(messages.Length, Align(length))..];
                if (answerSequence != sequence)
                {
                    continue;
                }
                if (answerType == NLMSG_ERROR)
                {
                    errno = payload.Length >= 4 ? -BinaryPrimitives.ReadInt32LittleEndian(payload) : 0;
                    return [];
                }
                if (answerType is RTM_NEWROUTE or RTM_NEWLINK)
                {
                    errno = 0;
                    return payload;
                }
            }
        }
    }

    private static int Attribute(Span<byte> destination, ushort type, ReadOnlySpan<byte> value)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(destination, (ushort)(4 + value.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(destination[2..], type);
        value.CopyTo(destination[4..]);
        return Align(4 + value.Length);
    }

    private static List<(ushort Type, byte[] Value)> Attributes(ReadOnlySpan<byte> data)
    {
        var attributes = new List<(ushort, byte[])>();
        while (data.Length >= 4)
        {
            int length = BinaryPrimitives.ReadUInt16LittleEndian(data);
            if (length < 4 || length > data.Length)
            {
                break;
            }
            // The top two bits of the type are NLA_F_NESTED and NLA_F_NET_BYTEORDER.
            ushort type = (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(data[2..]) & 0x3FFF);
            attributes.Add((type, data[4..length].ToArray()));
            data = data[Math.Min(data.Length, Align(length))..];
        }
        return attributes;
    }

    private static int Align(int length) => (length + 3) & ~3;

    public void Dispose() => _socket.Dispose();
}

/// <summary>What RTM_GETROUTE said before the interface is named.</summary>
internal sealed class RawRoute
{
    public byte Type;
    public int Table;
    public int InterfaceIndex;
    public IPAddress? Gateway;
    public IPAddress? Source;
    public int? PathMtu;
}

internal readonly record struct RouteAnswer(RawRoute? Route, int Errno);
