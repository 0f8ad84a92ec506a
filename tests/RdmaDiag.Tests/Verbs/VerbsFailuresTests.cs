using System.Net;
using RdmaDiag.Diagnostics.Devices;
using RdmaDiag.Endpoint;
using RdmaDiag.Native;
using RdmaDiag.Verbs;

namespace RdmaDiag.Tests.Verbs;

/// <summary>rdma_cm and verbs failures become the soft endpoint's error kinds, with the event and errno as evidence.</summary>
public class VerbsFailuresTests
{
    private static readonly IPEndPoint Peer = new(IPAddress.Parse("192.0.2.7"), 7174);

    [Theory]
    [InlineData(RdmaCmEventType.Rejected, -104, true, IwarpErrorKind.MpaRejected, ConnectionPhase.MpaHandshake)]
    [InlineData(RdmaCmEventType.Rejected, -111, true, IwarpErrorKind.TcpRefused, ConnectionPhase.TcpConnect)]
    [InlineData(RdmaCmEventType.Rejected, 8, false, IwarpErrorKind.TcpRefused, ConnectionPhase.TcpConnect)]
    [InlineData(RdmaCmEventType.Rejected, 28, false, IwarpErrorKind.MpaRejected, ConnectionPhase.MpaHandshake)]
    [InlineData(RdmaCmEventType.Unreachable, -110, true, IwarpErrorKind.HandshakeTimeout, ConnectionPhase.MpaHandshake)]
    [InlineData(RdmaCmEventType.Unreachable, -110, false, IwarpErrorKind.TcpTimeout, ConnectionPhase.TcpConnect)]
    [InlineData(RdmaCmEventType.AddrError, -110, true, IwarpErrorKind.TcpUnreachable, ConnectionPhase.TcpConnect)]
    [InlineData(RdmaCmEventType.RouteError, -101, true, IwarpErrorKind.TcpUnreachable, ConnectionPhase.TcpConnect)]
    [InlineData(RdmaCmEventType.ConnectError, -22, true, IwarpErrorKind.MalformedStartFrame, ConnectionPhase.MpaHandshake)]
    [InlineData(RdmaCmEventType.Disconnected, 0, true, IwarpErrorKind.ConnectionClosed, ConnectionPhase.MpaHandshake)]
    public void FromEvent_SetupEvent_MapsToTheSoftEndpointsKind(RdmaCmEventType type, int status, bool iwarp, IwarpErrorKind kind, ConnectionPhase phase)
    {
        IwarpException e = VerbsFailures.FromEvent(type, status, default, iwarp, Peer, "ESTABLISHED");

        Assert.Equal((kind, phase), (e.Kind, e.Phase));
        Assert.Equal(Peer, e.RemoteEndPoint);
        var evidence = Assert.IsType<RdmaCmEvidence>(e.InnerException);
        Assert.Equal((type, status), (evidence.Event, evidence.EventStatus));
        Assert.Contains("while waiting for ESTABLISHED", e.Message);
    }

    [Fact]
    public void FromEvent_RejectedWithPrivateData_CarriesItAndNamesTheEvent()
    {
        byte[] privateData = "server full"u8.ToArray();

        IwarpException e = VerbsFailures.FromEvent(RdmaCmEventType.Rejected, -111, privateData, iwarp: true, Peer, "ESTABLISHED after rdma_connect");

        Assert.Equal((IwarpErrorKind.MpaRejected, ErrorSource.Peer), (e.Kind, e.DetectedBy));
        Assert.Equal(privateData, e.PeerPrivateData.ToArray());
        Assert.Contains("rejected the connection with 11 octets of private data", e.Message);
        Assert.Contains("RDMA_CM_EVENT_REJECTED, status -111 (ECONNREFUSED)", e.Message);
        Assert.Equal("RDMA_CM_EVENT_REJECTED", ((RdmaCmEvidence)e.InnerException!).EventName);
    }

    [Theory]
    [InlineData(Errno.ECONNREFUSED, IwarpErrorKind.TcpRefused)]
    [InlineData(Errno.ENETUNREACH, IwarpErrorKind.TcpUnreachable)]
    [InlineData(Errno.EHOSTUNREACH, IwarpErrorKind.TcpUnreachable)]
    [InlineData(Errno.ETIMEDOUT, IwarpErrorKind.TcpTimeout)]
    [InlineData(Errno.EINVAL, IwarpErrorKind.TcpError)]
    public void FromCall_RdmaConnectErrno_MapsLikeTheSocketErrors(int errno, IwarpErrorKind kind)
    {
        IwarpException e = VerbsFailures.FromCall(new RdmaNativeException("rdma_connect", errno, Peer.ToString()), ConnectionPhase.TcpConnect, Peer, "rdma_connect");

        Assert.Equal(kind, e.Kind);
        var evidence = Assert.IsType<RdmaCmEvidence>(e.InnerException);
        Assert.Equal(("rdma_connect", errno), (evidence.Function, evidence.Errno));
        Assert.Contains($"rdma_connect failed ({Peer})", e.Message);
    }

    [Theory]
    [InlineData(WcStatus.RemAccessErr, IwarpErrorKind.TerminateReceived, ErrorSource.Peer)]
    [InlineData(WcStatus.RemOpErr, IwarpErrorKind.TerminateReceived, ErrorSource.Peer)]
    [InlineData(WcStatus.LocProtErr, IwarpErrorKind.TerminateSent, ErrorSource.Local)]
    [InlineData(WcStatus.LocLenErr, IwarpErrorKind.TerminateSent, ErrorSource.Local)]
    [InlineData(WcStatus.RetryExcErr, IwarpErrorKind.ConnectionReset, ErrorSource.Local)]
    [InlineData(WcStatus.GeneralErr, IwarpErrorKind.ConnectionReset, ErrorSource.Local)]
    public void FromCompletion_FailedStatus_MapsToWhoFoundIt(WcStatus status, IwarpErrorKind kind, ErrorSource source)
    {
        IwarpException e = VerbsFailures.FromCompletion(status, 0x1F, "RdmaRead (wr 3, 64 octets)", Peer);

        Assert.Equal((kind, source, ConnectionPhase.FullOperation), (e.Kind, e.DetectedBy, e.Phase));
        Assert.Contains($"({status}, vendor error 0x1F)", e.Message);
    }

    [RdmaCmLibraryTheory]
    [MemberData(nameof(EventTypes))]
    public void EventName_EveryEvent_SpelledAsRdmaEventStr(RdmaCmEventType type)
    {
        Assert.Equal(RdmaCmEvent.EventName(type), VerbsFailures.EventName(type));
    }

    public static TheoryData<RdmaCmEventType> EventTypes() => [.. Enum.GetValues<RdmaCmEventType>()];

    [Theory]
    [InlineData(WcStatus.Success, CompletionStatus.Success)]
    [InlineData(WcStatus.WrFlushErr, CompletionStatus.Flushed)]
    [InlineData(WcStatus.RemAccessErr, CompletionStatus.RemoteAccessError)]
    [InlineData(WcStatus.RemInvReqErr, CompletionStatus.RemoteOperationError)]
    [InlineData(WcStatus.LocLenErr, CompletionStatus.LocalLengthError)]
    [InlineData(WcStatus.FatalErr, CompletionStatus.Flushed)]
    public void Map_WorkCompletionStatus_ToTheEndpointsStatus(WcStatus status, CompletionStatus expected)
    {
        Assert.Equal(expected, VerbsQueuePair.Map(status));
    }

    [Theory]
    [InlineData("kernel_without_rdma", VerbsUnavailableReason.KernelWithoutRdma)]
    [InlineData("rdma_core_not_loaded", VerbsUnavailableReason.KernelWithoutRdma)]
    [InlineData("rdma_core_libraries_missing", VerbsUnavailableReason.LibrariesMissing)]
    [InlineData("uverbs_not_loaded", VerbsUnavailableReason.UserspaceAccessMissing)]
    [InlineData("siw_not_linked", VerbsUnavailableReason.NoDevice)]
    [InlineData("no_device", VerbsUnavailableReason.NoDevice)]
    public void Classify_DevicesProblem_GivesTheReason(string code, VerbsUnavailableReason reason)
    {
        Assert.Equal(reason, VerbsFailures.Classify([Problem(code), Problem("iwpmd_not_running")]));
    }

    [Fact]
    public void Unavailable_EnodevFromEventChannel_CarriesErrnoDiagnosisAndFix()
    {
        var native = new RdmaNativeException("rdma_create_event_channel", Errno.ENODEV);

        VerbsUnavailableException? e = VerbsFailures.Unavailable(native, () => [Problem("kernel_without_rdma")]);

        Assert.NotNull(e);
        Assert.Equal((VerbsUnavailableReason.KernelWithoutRdma, Errno.ENODEV), (e.Reason, e.Errno));
        Assert.Same(native, e.InnerException);
        Assert.StartsWith("this kernel has no RDMA support: rdma_create_event_channel failed: No such device (errno 19, ENODEV)", e.Message);
        Assert.Contains("kernel_without_rdma happened; fix: do kernel_without_rdma", e.Message);
    }

    [Fact]
    public void Unavailable_EnosysWithoutDiagnosis_IsKernelWithoutRdma()
    {
        VerbsUnavailableException? e = VerbsFailures.Unavailable(new RdmaNativeException("ibv_get_device_list", Errno.ENOSYS), () => []);

        Assert.Equal(VerbsUnavailableReason.KernelWithoutRdma, e?.Reason);
    }

    [Fact]
    public void Unavailable_MissingLibrary_IsLibrariesMissing()
    {
        var status = NativeLibraryStatus.Probe("librdmacm-does-not-exist.so.1", "librdmacm1", "rdma_create_event_channel");

        VerbsUnavailableException? e = VerbsFailures.Unavailable(new RdmaUnavailableException(status), () => []);

        Assert.Equal(VerbsUnavailableReason.LibrariesMissing, e?.Reason);
        Assert.Contains("apt-get install librdmacm1", e?.Message);
    }

    [Theory]
    [InlineData(Errno.ECONNREFUSED)]
    [InlineData(Errno.EADDRINUSE)]
    public void Unavailable_OrdinaryFailure_IsNotUnavailability(int errno)
    {
        Assert.Null(VerbsFailures.Unavailable(new RdmaNativeException("rdma_bind_addr", errno), () => throw new InvalidOperationException("not consulted")));
    }

    private static Problem Problem(string code) => new(code, $"{code} happened", [], [$"do {code}"]);
}
