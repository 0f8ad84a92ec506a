using System.Net;
using RdmaDiag.Endpoint;
using RdmaDiag.Native;

namespace RdmaDiag.Verbs;

/// <summary>
/// What rdma_cm or the provider reported, kept as the <see cref="Exception.InnerException"/> of the
/// <see cref="IwarpException"/> a verbs failure becomes: the call that failed and its errno, or the
/// rdma_cm event and its status, or the work completion's status and vendor error.
/// </summary>
public sealed class RdmaCmEvidence : Exception
{
    public RdmaCmEvidence(string message) : base(message)
    {
    }

    /// <summary>The librdmacm/libibverbs function that returned an error, e.g. rdma_connect.</summary>
    public string? Function { get; init; }

    /// <summary>The errno of <see cref="Function"/>.</summary>
    public int? Errno { get; init; }

    /// <summary>The rdma_cm event that reported the failure.</summary>
    public RdmaCmEventType? Event { get; init; }

    /// <summary>The event's status: a negative errno (iWARP, address errors) or an InfiniBand CM reject reason.</summary>
    public int? EventStatus { get; init; }

    /// <summary>The status of a failed work completion.</summary>
    public WcStatus? CompletionStatus { get; init; }

    public uint? VendorError { get; init; }

    /// <summary>rdma_event_str's name of <see cref="Event"/>, e.g. RDMA_CM_EVENT_REJECTED.</summary>
    public string? EventName => Event is { } e ? VerbsFailures.EventName(e) : null;
}

/// <summary>Why the verbs transport cannot be used on this host at all.</summary>
public enum VerbsUnavailableReason
{
    /// <summary>libibverbs or librdmacm cannot be loaded.</summary>
    LibrariesMissing,

    /// <summary>The kernel has no RDMA core (built without CONFIG_INFINIBAND, or ib_core not loaded).</summary>
    KernelWithoutRdma,

    /// <summary>RDMA devices exist but ib_uverbs or rdma_ucm is missing, so userspace cannot reach them.</summary>
    UserspaceAccessMissing,

    /// <summary>The kernel has RDMA but there is no device (no RNIC, no siw/rxe link).</summary>
    NoDevice,

    /// <summary>Devices exist, but none is bound to the interface that reaches the peer.</summary>
    NoDeviceOnRoute,
}

/// <summary>
/// The verbs transport cannot run here: no rdma-core, a kernel without RDMA, or no device. Carries the
/// native evidence and the `rdmadiag devices` diagnosis (problems with their fixes).
/// </summary>
public sealed class VerbsUnavailableException : Exception
{
    public VerbsUnavailableException(VerbsUnavailableReason reason, string message, IReadOnlyList<Diagnostics.Devices.Problem> problems, Exception? inner)
        : base(message, inner)
    {
        Reason = reason;
        Problems = problems;
    }

    public VerbsUnavailableReason Reason { get; }

    /// <summary>The devices report's problems, the first one being the cause to fix first.</summary>
    public IReadOnlyList<Diagnostics.Devices.Problem> Problems { get; }

    /// <summary>The failing call's errno, when a call failed (ENODEV, ENOSYS...).</summary>
    public int? Errno => InnerException switch
    {
        RdmaNativeException native => native.Errno,
        RdmaCmEvidence evidence => evidence.Errno ?? (evidence.EventStatus is < 0 and var s ? -s : null),
        _ => null,
    };
}

/// <summary>
/// Maps rdma_cm and verbs failures to the connection errors the soft endpoint raises, so `check`
/// decides its verdict the same way whichever transport ran. The mapping follows the kernel: siw
/// connects TCP synchronously inside rdma_connect (so refused/unreachable come back as its errno), and
/// cma turns iw_cm's CONNECT_REPLY status into REJECTED (-ECONNRESET: the MPA Reply had R=1 or the
/// peer closed; -ECONNREFUSED), UNREACHABLE (-ETIMEDOUT) or CONNECT_ERROR (anything else).
/// </summary>
public static class VerbsFailures
{
    // InfiniBand CM reject reasons (IBTA 12.6.7.2) that REJECTED carries as a positive status on IB/RoCE.
    private const int IbRejectInvalidServiceId = 8;
    private const int IbRejectConsumer = 28;

    /// <summary>A call that failed synchronously (librdmacm: -1 and errno).</summary>
    public static IwarpException FromCall(RdmaNativeException e, ConnectionPhase phase, EndPoint? remote, string doing)
    {
        IwarpErrorKind kind = e.Errno switch
        {
            Native.Errno.ECONNREFUSED => IwarpErrorKind.TcpRefused,
            Native.Errno.ENETUNREACH or Native.Errno.EHOSTUNREACH or Native.Errno.ENETDOWN or Native.Errno.EADDRNOTAVAIL => IwarpErrorKind.TcpUnreachable,
            Native.Errno.ETIMEDOUT => phase == ConnectionPhase.TcpConnect ? IwarpErrorKind.TcpTimeout : IwarpErrorKind.Stall,
            Native.Errno.ECONNRESET or Native.Errno.ECONNABORTED when phase != ConnectionPhase.TcpConnect => IwarpErrorKind.ConnectionReset,
            _ => phase == ConnectionPhase.TcpConnect ? IwarpErrorKind.TcpError : IwarpErrorKind.ConnectionReset,
        };
        return new IwarpException(kind, phase, $"{doing}: {e.Message}",
            new RdmaCmEvidence(e.Message) { Function = e.Function, Errno = e.Errno })
        {
            RemoteEndPoint = remote,
        };
    }

    /// <summary>
    /// An rdma_cm event other than the one awaited. <paramref name="iwarp"/> says whether the device is
    /// iWARP (event statuses are negative errnos) or InfiniBand/RoCE (REJECTED carries the CM reason).
    /// </summary>
    public static IwarpException FromEvent(RdmaCmEventType type, int status, ReadOnlyMemory<byte> privateData, bool iwarp, EndPoint? remote, string waitingFor)
    {
        string seen = Describe(type, status);
        var evidence = new RdmaCmEvidence(seen) { Event = type, EventStatus = status };
        (IwarpErrorKind kind, ConnectionPhase phase, ErrorSource source, string why) = type switch
        {
            RdmaCmEventType.AddrError or RdmaCmEventType.RouteError => (IwarpErrorKind.TcpUnreachable, ConnectionPhase.TcpConnect, ErrorSource.Local,
                status == -Native.Errno.ETIMEDOUT
                    ? "the peer's address did not resolve to a neighbour in time (no ARP/ND answer): it is unreachable from here"
                    : "there is no route to the peer from an RDMA device"),
            RdmaCmEventType.Rejected => Rejected(status, privateData.Length, iwarp),
            RdmaCmEventType.Unreachable => iwarp
                ? (IwarpErrorKind.HandshakeTimeout, ConnectionPhase.MpaHandshake, ErrorSource.Local,
                    "the TCP connection was made but no MPA Reply came back in time (the provider's MPA timer expired)")
                : (IwarpErrorKind.TcpTimeout, ConnectionPhase.TcpConnect, ErrorSource.Local, "the peer's connection manager did not answer"),
            RdmaCmEventType.ConnectError => (IwarpErrorKind.MalformedStartFrame, ConnectionPhase.MpaHandshake, ErrorSource.Peer,
                "the provider found the peer's MPA Reply unacceptable (revision, key, IRD/ORD or RTR negotiation); a capture shows which"),
            RdmaCmEventType.Disconnected => (IwarpErrorKind.ConnectionClosed, ConnectionPhase.MpaHandshake, ErrorSource.Peer,
                "the connection closed before it was established"),
            RdmaCmEventType.DeviceRemoval => (IwarpErrorKind.ConnectionReset, ConnectionPhase.FullOperation, ErrorSource.Local,
                "the RDMA device was removed"),
            _ => (IwarpErrorKind.TcpError, ConnectionPhase.TcpConnect, ErrorSource.Local, "rdma_cm reported an unexpected event"),
        };
        return new IwarpException(kind, phase, $"{why}; rdma_cm reported {seen} while waiting for {waitingFor}", evidence)
        {
            RemoteEndPoint = remote,
            DetectedBy = source,
            PeerPrivateData = privateData.ToArray(),
        };
    }

    private static (IwarpErrorKind, ConnectionPhase, ErrorSource, string) Rejected(int status, int privateDataLength, bool iwarp)
    {
        if (!iwarp && status == IbRejectInvalidServiceId)
        {
            return (IwarpErrorKind.TcpRefused, ConnectionPhase.TcpConnect, ErrorSource.Peer, "nothing listens on that port at the peer (CM reject: invalid service ID)");
        }
        if (privateDataLength > 0 || status == -Native.Errno.ECONNRESET || (!iwarp && status == IbRejectConsumer))
        {
            return (IwarpErrorKind.MpaRejected, ConnectionPhase.MpaHandshake, ErrorSource.Peer,
                privateDataLength > 0
                    ? $"the peer rejected the connection with {privateDataLength} octets of private data"
                    : "the peer rejected the connection (an MPA Reply with R=1) or closed it before replying");
        }
        if (status == -Native.Errno.ECONNREFUSED)
        {
            return (IwarpErrorKind.TcpRefused, ConnectionPhase.TcpConnect, ErrorSource.Peer,
                "the connection was refused: a TCP reset to the connect, or (siw) a Reply whose CRC or marker settings this side cannot accept");
        }
        return (IwarpErrorKind.MpaRejected, ConnectionPhase.MpaHandshake, ErrorSource.Peer, "the peer rejected the connection");
    }

    /// <summary>A work completion that failed for a reason other than a flush.</summary>
    public static IwarpException FromCompletion(WcStatus status, uint vendorError, string what, EndPoint? remote)
    {
        string text = $"{what} completed with {WorkCompletion.StatusText(status)} ({status}, vendor error 0x{vendorError:X})";
        (IwarpErrorKind kind, ErrorSource source) = status switch
        {
            WcStatus.RemAccessErr or WcStatus.RemOpErr or WcStatus.RemInvReqErr or WcStatus.RemInvRdReqErr or WcStatus.RemAbortErr
                => (IwarpErrorKind.TerminateReceived, ErrorSource.Peer),
            WcStatus.LocLenErr or WcStatus.LocProtErr or WcStatus.LocQpOpErr or WcStatus.LocAccessErr or WcStatus.BadRespErr or WcStatus.MwBindErr
                => (IwarpErrorKind.TerminateSent, ErrorSource.Local),
            _ => (IwarpErrorKind.ConnectionReset, ErrorSource.Local),
        };
        return new IwarpException(kind, ConnectionPhase.FullOperation, text,
            new RdmaCmEvidence(text) { CompletionStatus = status, VendorError = vendorError })
        {
            RemoteEndPoint = remote,
            DetectedBy = source,
        };
    }

    /// <summary>No rdma_cm event within <paramref name="waited"/>.</summary>
    public static IwarpException Timeout(IwarpErrorKind kind, ConnectionPhase phase, TimeSpan waited, EndPoint? remote, string waitingFor) =>
        new(kind, phase, $"no rdma_cm event within {waited.TotalSeconds:0.###} s while waiting for {waitingFor}")
        {
            RemoteEndPoint = remote,
            Waited = waited,
        };

    /// <summary>rdma_event_str's spelling, whether or not librdmacm is loaded: AddrResolved → RDMA_CM_EVENT_ADDR_RESOLVED.</summary>
    public static string EventName(RdmaCmEventType type)
    {
        string name = type.ToString();
        var text = new System.Text.StringBuilder("RDMA_CM_EVENT_", 32);
        for (int i = 0; i < name.Length; i++)
        {
            if (i > 0 && char.IsUpper(name[i]))
            {
                text.Append('_');
            }
            text.Append(char.ToUpperInvariant(name[i]));
        }
        return text.ToString();
    }

    /// <summary>"RDMA_CM_EVENT_REJECTED, status -104 (ECONNRESET)".</summary>
    public static string Describe(RdmaCmEventType type, int status) =>
        status == 0 ? EventName(type)
            : $"{EventName(type)}, status {status}{(status < 0 && Native.Errno.Name(-status) is { } name ? $" ({name})" : "")}";

    /// <summary>
    /// The typed "verbs cannot run here" error for a failed call (ENODEV, ENOSYS) or missing library,
    /// with the devices diagnosis; null when <paramref name="e"/> is not such a failure.
    /// </summary>
    public static VerbsUnavailableException? Unavailable(Exception e, Func<IReadOnlyList<Diagnostics.Devices.Problem>> diagnose)
    {
        string? what = e switch
        {
            RdmaUnavailableException => e.Message,
            RdmaNativeException { Errno: Native.Errno.ENODEV or Native.Errno.ENOSYS } native => native.Message,
            _ => null,
        };
        return what is null ? null : Unavailable(what, e, diagnose(), onRoute: false);
    }

    /// <summary>ADDR_ERROR with -ENODEV: the route's interface has no RDMA device.</summary>
    internal static VerbsUnavailableException NoDeviceOnRoute(IPEndPoint remote, int status, Func<IReadOnlyList<Diagnostics.Devices.Problem>> diagnose)
    {
        string seen = Describe(RdmaCmEventType.AddrError, status);
        return Unavailable($"no RDMA device is bound to the interface that reaches {remote.Address} (rdma_resolve_addr: {seen})",
            new RdmaCmEvidence(seen) { Event = RdmaCmEventType.AddrError, EventStatus = status }, diagnose(), onRoute: true);
    }

    internal static VerbsUnavailableException Unavailable(string what, Exception inner, IReadOnlyList<Diagnostics.Devices.Problem> problems, bool onRoute)
    {
        VerbsUnavailableReason reason = onRoute ? VerbsUnavailableReason.NoDeviceOnRoute : Classify(problems, inner);
        string headline = reason switch
        {
            VerbsUnavailableReason.LibrariesMissing => "rdma-core is not installed",
            VerbsUnavailableReason.KernelWithoutRdma => "this kernel has no RDMA support",
            VerbsUnavailableReason.UserspaceAccessMissing => "the RDMA devices are not reachable from userspace",
            VerbsUnavailableReason.NoDeviceOnRoute => "no RDMA device on the route",
            _ => "no RDMA device",
        };
        var message = new System.Text.StringBuilder($"{headline}: {what}");
        if (problems.Count > 0)
        {
            Diagnostics.Devices.Problem first = problems[0];
            message.Append($"; {first.Message}");
            if (first.Fixes.Count > 0)
            {
                message.Append($"; fix: {string.Join("; ", first.Fixes)}");
            }
        }
        return new VerbsUnavailableException(reason, message.ToString(), problems, inner);
    }

    /// <summary>The reason, from the devices report's first matching problem.</summary>
    public static VerbsUnavailableReason Classify(IReadOnlyList<Diagnostics.Devices.Problem> problems, Exception? inner = null)
    {
        if (inner is RdmaUnavailableException)
        {
            return VerbsUnavailableReason.LibrariesMissing;
        }
        foreach (Diagnostics.Devices.Problem problem in problems)
        {
            switch (problem.Code)
            {
                case "rdma_core_libraries_missing":
                    return VerbsUnavailableReason.LibrariesMissing;
                case "kernel_without_rdma" or "rdma_core_not_loaded":
                    return VerbsUnavailableReason.KernelWithoutRdma;
                case "uverbs_not_loaded" or "rdma_ucm_not_loaded":
                    return VerbsUnavailableReason.UserspaceAccessMissing;
                case "siw_not_linked" or "no_device":
                    return VerbsUnavailableReason.NoDevice;
            }
        }
        return inner is RdmaNativeException { Errno: Native.Errno.ENOSYS } ? VerbsUnavailableReason.KernelWithoutRdma : VerbsUnavailableReason.NoDevice;
    }
}
