using System.Net;
using RdmaDiag.Diagnostics.Devices;
using RdmaDiag.Native;
using RdmaDiag.Tests.Native;
using RdmaDiag.Verbs;

namespace RdmaDiag.Tests.Verbs;

/// <summary>What the verbs transport says on a host whose kernel has no RDMA (this build machine).</summary>
public class VerbsErrorPathTests
{
    private static readonly IPEndPoint Target = new(IPAddress.Loopback, 7174);

    [NoRdmaKernelFact]
    public void Create_KernelWithoutRdma_ThrowsUnavailableWithErrnoAndTheDiagnosisFix()
    {
        Problem kernel = new("kernel_without_rdma", "this kernel is built without RDMA support", [], ["boot a kernel with CONFIG_INFINIBAND=m"]);

        var e = Assert.Throws<VerbsUnavailableException>(() => VerbsConnection.Create(Target, VerbsOptions.Default with { Diagnose = () => [kernel] }));

        Assert.Equal(VerbsUnavailableReason.KernelWithoutRdma, e.Reason);
        Assert.Equal(Errno.ENODEV, e.Errno);
        var native = Assert.IsType<RdmaNativeException>(e.InnerException);
        Assert.Equal("rdma_create_event_channel", native.Function);
        Assert.Equal(
            "this kernel has no RDMA support: rdma_create_event_channel failed: No such device (errno 19, ENODEV); " +
            "this kernel is built without RDMA support; fix: boot a kernel with CONFIG_INFINIBAND=m",
            e.Message);
    }

    [NoRdmaKernelFact]
    public void Create_LiveDiagnosis_AgreesWithTheDevicesReport()
    {
        IReadOnlyList<Problem> report = DeviceReportBuilder.Build(HostSource.Live, RdmaUserspace.Instance).Problems;

        var e = Assert.Throws<VerbsUnavailableException>(() => VerbsConnection.Create(Target));

        Assert.Equal(report.Select(p => p.Code), e.Problems.Select(p => p.Code));
        Assert.NotEmpty(e.Problems);
        Assert.Equal(VerbsFailures.Classify(report), e.Reason);
        Assert.Contains(e.Problems[0].Message, e.Message);
    }

    [NoRdmaKernelFact]
    public void ListenerStart_KernelWithoutRdma_ThrowsTheSameTypedError()
    {
        var e = Assert.Throws<VerbsUnavailableException>(() =>
            VerbsListener.Start(new IPEndPoint(IPAddress.Any, 0), VerbsOptions.Rping with { Diagnose = () => [] }));

        Assert.Equal((VerbsUnavailableReason.NoDevice, Errno.ENODEV), (e.Reason, e.Errno));
        Assert.StartsWith("no RDMA device: rdma_create_event_channel failed", e.Message);
    }

    [Fact]
    public void Options_PrivateDataOver255_IsUserError()
    {
        var e = Assert.Throws<UserInputException>(() => VerbsConnection.Create(Target, VerbsOptions.Default with { PrivateData = new byte[256] }));

        Assert.Contains("256 octets", e.Message);
    }
}
