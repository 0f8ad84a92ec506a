using System.Diagnostics;
using System.Runtime.InteropServices;
using RdmaDiag.Native;

namespace RdmaDiag.Capture;

/// <summary>Live capture could not start or went on failing for a reason of the environment (privilege, library, device state).</summary>
public sealed class CaptureUnavailableException(string message) : Exception(message);

/// <summary>Settings for <see cref="LiveCapture.Open"/>.</summary>
public sealed record LiveCaptureOptions
{
    /// <summary>Interface name; "any" captures on every interface (Linux cooked headers).</summary>
    public string Interface { get; init; } = "any";
    /// <summary>BPF filter expression (tcpdump syntax); empty captures everything.</summary>
    public string Filter { get; init; } = "";
    public int SnapLength { get; init; } = 262144;
    /// <summary>Kernel ring size; larger means fewer drops under bursts.</summary>
    public int BufferSize { get; init; } = 32 << 20;
    /// <summary>How long a read waits before it returns <see cref="PacketReadResult.Timeout"/>.</summary>
    public int TimeoutMilliseconds { get; init; } = 100;
}

/// <summary>Packet counters from <c>pcap_stats</c>.</summary>
public readonly record struct LiveCaptureStatistics(long Received, long DroppedByKernel, long DroppedByInterface);

/// <summary>
/// A live libpcap capture as an <see cref="IPacketSource"/>: immediate mode, nanosecond timestamps, a BPF filter.
/// <see cref="Read"/> returns <see cref="PacketReadResult.Timeout"/> when nothing arrived within the timeout
/// (pcap_next_ex returned 0 — "again", not "stop"; the handle is non-blocking and Read sleeps briefly between empty polls), and <see cref="PacketReadResult.End"/> after
/// <see cref="Stop"/>. Packet data points into libpcap's ring and is valid until the next read.
/// </summary>
public sealed unsafe class LiveCapture : IPacketSource
{
    /// <summary>Pause between empty non-blocking reads: bounds idle wake-ups to a few hundred per second.</summary>
    private const int IdleSleepMilliseconds = 2;

    private readonly SafePcapHandle _handle;
    private readonly bool _nanos;
    private long _frame;
    private volatile bool _stopped;

    private LiveCapture(SafePcapHandle handle, LiveCaptureOptions options, LinkType linkType, bool nanos)
    {
        _handle = handle;
        Options = options;
        LinkType = linkType;
        _nanos = nanos;
    }

    public LiveCaptureOptions Options { get; }
    public LinkType LinkType { get; }

    /// <summary>
    /// Opens and activates a capture. Throws <see cref="UserInputException"/> for an unknown interface or a bad
    /// filter, and <see cref="CaptureUnavailableException"/> when libpcap is missing or privileges are lacking.
    /// </summary>
    public static LiveCapture Open(LiveCaptureOptions options)
    {
        if (!PcapLibrary.IsAvailable)
        {
            throw new CaptureUnavailableException(PcapLibrary.UnavailableReason!);
        }
        var errbuf = stackalloc byte[Interop.Pcap.PCAP_ERRBUF_SIZE];
        var handle = Interop.Pcap.pcap_create(options.Interface, errbuf);
        if (handle.IsInvalid)
        {
            handle.Dispose();
            throw new UserInputException($"interface '{options.Interface}': {Marshal.PtrToStringUTF8((nint)errbuf)}");
        }
        try
        {
            Interop.Pcap.pcap_set_snaplen(handle, options.SnapLength);
            Interop.Pcap.pcap_set_promisc(handle, 0);
            Interop.Pcap.pcap_set_timeout(handle, options.TimeoutMilliseconds);
            Interop.Pcap.pcap_set_immediate_mode(handle, 1);
            Interop.Pcap.pcap_set_buffer_size(handle, options.BufferSize);
            var nanos = Interop.Pcap.pcap_set_tstamp_precision(handle, Interop.Pcap.PCAP_TSTAMP_PRECISION_NANO) == 0;
            var status = Interop.Pcap.pcap_activate(handle);
            if (status < 0)
            {
                throw ActivationError(handle, options.Interface, status);
            }
            nanos = Interop.Pcap.pcap_get_tstamp_precision(handle) == Interop.Pcap.PCAP_TSTAMP_PRECISION_NANO;
            // With TPACKET_V3, libpcap's poll waits for a ring block forever when no packet arrives, whatever
            // pcap_set_timeout says; non-blocking reads plus a short idle sleep keep Read's timeout honest.
            if (Interop.Pcap.pcap_setnonblock(handle, 1, errbuf) != 0)
            {
                throw new CaptureUnavailableException($"cannot make the capture on '{options.Interface}' non-blocking: {Marshal.PtrToStringUTF8((nint)errbuf)}");
            }
            if (options.Filter.Length > 0)
            {
                Interop.Pcap.bpf_program program;
                if (Interop.Pcap.pcap_compile(handle, &program, options.Filter, 1, Interop.Pcap.PCAP_NETMASK_UNKNOWN) != 0)
                {
                    throw new UserInputException($"capture filter '{options.Filter}': {ErrorText(handle)}");
                }
                try
                {
                    if (Interop.Pcap.pcap_setfilter(handle, &program) != 0)
                    {
                        throw new CaptureUnavailableException($"cannot install the capture filter on '{options.Interface}': {ErrorText(handle)}");
                    }
                }
                finally
                {
                    Interop.Pcap.pcap_freecode(&program);
                }
            }
            var linkType = LinkTypes.FromDlt(Interop.Pcap.pcap_datalink(handle));
            if (!LinkTypes.IsSupported(linkType))
            {
                throw new UserInputException($"interface '{options.Interface}' has link type {(int)linkType}, which RdmaDiag cannot decode (supported: {LinkTypes.SupportedList})");
            }
            return new LiveCapture(handle, options, linkType, nanos);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static Exception ActivationError(SafePcapHandle handle, string iface, int status)
    {
        var detail = ErrorText(handle);
        if (detail.Length == 0)
        {
            detail = Marshal.PtrToStringUTF8((nint)Interop.Pcap.pcap_statustostr(status)) ?? $"status {status}";
        }
        return status switch
        {
            Interop.Pcap.PCAP_ERROR_NO_SUCH_DEVICE => new UserInputException(
                $"interface '{iface}' does not exist (available: {string.Join(", ", PcapLibrary.InterfaceNames())})"),
            Interop.Pcap.PCAP_ERROR_PERM_DENIED or Interop.Pcap.PCAP_ERROR_PROMISC_PERM_DENIED => new CaptureUnavailableException(
                $"capturing on '{iface}' is not permitted ({detail}): run as root, or give the binary CAP_NET_RAW and CAP_NET_ADMIN " +
                "(sudo setcap cap_net_raw,cap_net_admin=eip PATH-TO-rdmadiag)"),
            Interop.Pcap.PCAP_ERROR_IFACE_NOT_UP => new UserInputException($"interface '{iface}' is down (ip link set {iface} up)"),
            _ => new CaptureUnavailableException($"cannot capture on '{iface}': {detail}"),
        };
    }

    private static string ErrorText(SafePcapHandle handle) => Marshal.PtrToStringUTF8((nint)Interop.Pcap.pcap_geterr(handle)) ?? "";

    public PacketReadResult Read(out RawPacket packet)
    {
        packet = default;
        if (_stopped)
        {
            return PacketReadResult.End;
        }
        Interop.Pcap.pcap_pkthdr* header;
        byte* data;
        var waitedSince = 0L;
        int rc;
        while ((rc = Interop.Pcap.pcap_next_ex(_handle, &header, &data)) == 0 && !_stopped)
        {
            if (waitedSince == 0)
            {
                waitedSince = Stopwatch.GetTimestamp();
            }
            else if (Stopwatch.GetElapsedTime(waitedSince).TotalMilliseconds >= Options.TimeoutMilliseconds)
            {
                return PacketReadResult.Timeout;
            }
            Thread.Sleep(IdleSleepMilliseconds);
        }
        switch (rc)
        {
            case 1:
                var ts = (long)header->tv_sec * 1_000_000_000L + (long)header->tv_usec * (_nanos ? 1 : 1000);
                packet = new RawPacket(++_frame, ts, LinkType, 0, (int)header->len, new ReadOnlySpan<byte>(data, (int)header->caplen));
                return PacketReadResult.Packet;
            case 0:
                return _stopped ? PacketReadResult.End : PacketReadResult.Timeout;
            case Interop.Pcap.PCAP_ERROR_BREAK:
                _stopped = true;
                return PacketReadResult.End;
            default:
                throw new CaptureUnavailableException($"capture on '{Options.Interface}' failed: {ErrorText(_handle)}");
        }
    }

    /// <summary>Makes a read in progress (or the next one) return <see cref="PacketReadResult.End"/>. Safe from any thread.</summary>
    public void Stop()
    {
        _stopped = true;
        if (!_handle.IsClosed)
        {
            Interop.Pcap.pcap_breakloop(_handle);
        }
    }

    public LiveCaptureStatistics GetStatistics()
    {
        Interop.Pcap.pcap_stat stats;
        return Interop.Pcap.pcap_stats(_handle, &stats) == 0
            ? new LiveCaptureStatistics(stats.ps_recv, stats.ps_drop, stats.ps_ifdrop)
            : default;
    }

    public void Dispose() => _handle.Dispose();
}
