using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using RdmaDiag.Native;

namespace RdmaDiag.Latency;

/// <summary>
/// What an interface can stamp on receive, from the SIOCETHTOOL ETHTOOL_GET_TS_INFO ioctl (what
/// `ethtool -T` shows) and, for hardware-capable NICs, SIOCGHWTSTAMP (whether the RX filter is on).
/// </summary>
public sealed record InterfaceTimestamping(
    string Interface,
    bool SoftwareRx,
    bool HardwareRx,
    int PhcIndex,
    bool HardwareRxFilterOn,
    string? QueryError)
{
    public string Describe()
    {
        if (QueryError is not null)
        {
            return $"{Interface}: ETHTOOL_GET_TS_INFO failed ({QueryError}); trying software timestamps, which the kernel stack takes for every interface";
        }
        if (!HardwareRx)
        {
            return $"{Interface}: software RX timestamps only, no hardware timestamping (no PTP hardware clock)";
        }
        var phc = PhcIndex >= 0 ? $"/dev/ptp{PhcIndex}" : "no PHC";
        return HardwareRxFilterOn
            ? $"{Interface}: hardware RX timestamps on ({phc}); hardware stamps are in the PHC's clock, meaningful against CLOCK_REALTIME only while phc2sys keeps the two together"
            : $"{Interface}: hardware RX timestamps supported ({phc}) but the NIC's RX filter is off (turn on with `hwstamp_ctl -i {Interface} -r 1` or run ptp4l); software only";
    }
}

/// <summary>Socket-level kernel timestamping: probe, switch on, and a stamped recvmsg.</summary>
public static class KernelTimestamping
{
    /// <summary>What rx-stamp asks the kernel for: software and raw hardware receive stamps.</summary>
    internal const uint RxFlags = Interop.Libc.SOF_TIMESTAMPING_RX_SOFTWARE | Interop.Libc.SOF_TIMESTAMPING_SOFTWARE
        | Interop.Libc.SOF_TIMESTAMPING_RX_HARDWARE | Interop.Libc.SOF_TIMESTAMPING_RAW_HARDWARE;

    /// <summary>Room for scm_timestamping and whatever else the kernel adds.</summary>
    internal const int ControlBufferLength = 256;

    /// <summary>The interface that carries traffic from this host to <paramref name="peer"/>, given the
    /// local address a connected socket chose. A local peer is reached through lo, whichever interface
    /// holds the address.</summary>
    public static string InterfaceFor(IPAddress localAddress, IPAddress peer)
    {
        var interfaces = NetworkInterface.GetAllNetworkInterfaces();
        bool Holds(NetworkInterface nic, IPAddress a) => nic.GetIPProperties().UnicastAddresses.Any(u => u.Address.Equals(a));
        var loopback = interfaces.FirstOrDefault(n => n.NetworkInterfaceType == NetworkInterfaceType.Loopback)?.Name ?? "lo";
        if (IPAddress.IsLoopback(peer) || interfaces.Any(n => Holds(n, peer)))
        {
            return loopback;
        }
        return interfaces.FirstOrDefault(n => Holds(n, localAddress))?.Name ?? loopback;
    }

    public static unsafe InterfaceTimestamping Query(string interfaceName)
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        using var fd = new SocketFd(probe);
        Interop.Libc.Ifreq request = default;
        var name = Encoding.ASCII.GetBytes(interfaceName);
        if (name.Length >= Interop.Libc.IFNAMSIZ)
        {
            return new InterfaceTimestamping(interfaceName, true, false, -1, false, $"interface name longer than {Interop.Libc.IFNAMSIZ - 1} bytes");
        }
        name.CopyTo(new Span<byte>(request.ifr_name, Interop.Libc.IFNAMSIZ));

        Interop.Libc.EthtoolTsInfo info = default;
        info.cmd = Interop.Libc.ETHTOOL_GET_TS_INFO;
        request.ifr_data = &info;
        if (Interop.Libc.ioctl(fd.Value, Interop.Libc.SIOCETHTOOL, &request) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return new InterfaceTimestamping(interfaceName, true, false, -1, false, $"{Marshal.GetPInvokeErrorMessage(errno)}, errno {errno}");
        }
        var softwareRx = (info.so_timestamping & Interop.Libc.SOF_TIMESTAMPING_RX_SOFTWARE) != 0;
        var hardwareRx = (info.so_timestamping & Interop.Libc.SOF_TIMESTAMPING_RX_HARDWARE) != 0
            && (info.so_timestamping & Interop.Libc.SOF_TIMESTAMPING_RAW_HARDWARE) != 0;
        var filterOn = false;
        if (hardwareRx)
        {
            Interop.Libc.HwtstampConfig config = default;
            request.ifr_data = &config;
            filterOn = Interop.Libc.ioctl(fd.Value, Interop.Libc.SIOCGHWTSTAMP, &request) == 0
                && config.rx_filter != Interop.Libc.HWTSTAMP_FILTER_NONE;
        }
        return new InterfaceTimestamping(interfaceName, softwareRx, hardwareRx, info.phc_index, filterOn, null);
    }

    /// <exception cref="UserInputException">the socket refuses SO_TIMESTAMPING.</exception>
    public static unsafe void Enable(Socket socket, uint flags = RxFlags)
    {
        using var fd = new SocketFd(socket);
        if (Interop.Libc.setsockopt(fd.Value, Interop.Libc.SOL_SOCKET, Interop.Libc.SO_TIMESTAMPING, &flags, sizeof(uint)) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new UserInputException($"rx-stamp: this kernel refuses SO_TIMESTAMPING 0x{flags:x} on a {socket.ProtocolType} socket: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}); no receive timestamp support");
        }
    }

    public static unsafe uint Enabled(Socket socket)
    {
        using var fd = new SocketFd(socket);
        uint flags = 0;
        var length = (uint)sizeof(uint);
        if (Interop.Libc.getsockopt(fd.Value, Interop.Libc.SOL_SOCKET, Interop.Libc.SO_TIMESTAMPING, &flags, &length) != 0)
        {
            throw Interop.Libc.LastError("getsockopt(SO_TIMESTAMPING)");
        }
        return flags;
    }

    /// <summary>SO_RCVTIMEO, so a blocking recvmsg gives up with EAGAIN instead of waiting forever.</summary>
    public static unsafe void SetReceiveTimeout(Socket socket, TimeSpan timeout)
    {
        using var fd = new SocketFd(socket);
        var ticks = (long)timeout.TotalMicroseconds;
        var tv = new Interop.Libc.Timeval { tv_sec = ticks / 1_000_000, tv_usec = ticks % 1_000_000 };
        if (Interop.Libc.setsockopt(fd.Value, Interop.Libc.SOL_SOCKET, Interop.Libc.SO_RCVTIMEO, &tv, (uint)sizeof(Interop.Libc.Timeval)) != 0)
        {
            throw Interop.Libc.LastError("setsockopt(SO_RCVTIMEO)");
        }
    }
}

/// <summary>The file descriptor behind a .NET socket, held open (AddRef) for the duration of a native call.</summary>
internal readonly struct SocketFd : IDisposable
{
    private readonly SafeHandle _handle;

    public SocketFd(Socket socket)
    {
        _handle = socket.SafeHandle;
        var added = false;
        _handle.DangerousAddRef(ref added);
        Value = (int)_handle.DangerousGetHandle();
    }

    public int Value { get; }

    public void Dispose() => _handle.DangerousRelease();
}

/// <summary>
/// recvmsg with a control buffer and the user-space CLOCK_REALTIME read right after it returns.
/// Buffers are pinned for the receiver's life.
/// </summary>
internal sealed unsafe class StampedReceiver : IDisposable
{
    private readonly Socket _socket;
    private readonly SocketFd _fd;
    private readonly byte[] _control = GC.AllocateArray<byte>(KernelTimestamping.ControlBufferLength, pinned: true);

    public StampedReceiver(Socket socket)
    {
        _socket = socket;
        _fd = new SocketFd(socket);
    }

    public Socket Socket => _socket;

    /// <summary>Bytes received (0 = orderly close), or -errno. <paramref name="userNs"/> is read right
    /// after recvmsg returns; <paramref name="stamps"/> is empty when the kernel attached none.</summary>
    public int Receive(Span<byte> buffer, bool dontWait, out long userNs, out KernelTimestamps stamps)
    {
        fixed (byte* data = buffer)
        fixed (byte* control = _control)
        {
            Interop.Libc.Iovec iov = new() { iov_base = data, iov_len = (nuint)buffer.Length };
            Interop.Libc.Msghdr msg = new()
            {
                msg_iov = &iov,
                msg_iovlen = 1,
                msg_control = control,
                msg_controllen = (nuint)_control.Length,
            };
            var n = Interop.Libc.recvmsg(_fd.Value, &msg, dontWait ? Interop.Libc.MSG_DONTWAIT : 0);
            if (n < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                userNs = 0;
                stamps = default;
                return -errno;
            }
            userNs = Clocks.RealtimeNanoseconds();
            KernelTimestamps.TryRead(new ReadOnlySpan<byte>(control, (int)msg.msg_controllen), out stamps);
            return (int)n;
        }
    }

    public void Dispose() => _fd.Dispose();
}
