using System.Net;
using RdmaDiag.Native;

namespace RdmaDiag.Tests.Native;

/// <summary>Against a real RDMA device (siw in the tests/vm guest, or an RNIC); skipped elsewhere.</summary>
public class RealDeviceTests
{
    [RdmaDeviceFact]
    public void FirstDevice_OpenedAndQueried_GivesPortsPdMrCqAndEmptyPoll()
    {
        var info = VerbsDevices.List()[0];
        using var context = VerbsDevices.Open(info.Name);

        var attr = context.QueryDevice();
        Assert.True(attr.PhysPortCount >= 1);
        Assert.True(attr.MaxQp > 0);
        var port = context.QueryPort(1);
        Assert.True(port.GidTableLength > 0);
        _ = context.QueryGid(1, 0);

        using var pd = context.AllocateProtectionDomain();
        using var mr = pd.AllocateAndRegister(4096, AccessFlags.LocalWrite | AccessFlags.RemoteRead | AccessFlags.RemoteWrite);
        Assert.NotEqual(0u, mr.LKey);
        mr.Span.Fill(0xA5);
        using var channel = context.CreateCompletionChannel();
        using var cq = context.CreateCompletionQueue(16, channel);
        Assert.True(cq.Capacity >= 16);
        cq.RequestNotify();
        Assert.Equal(0, cq.Poll(new WorkCompletion[4]));
        Assert.Null(channel.WaitForEvent(TimeSpan.FromMilliseconds(50)));

        using var qp = pd.CreateQueuePair(new QueuePairOptions(cq, cq) { MaxSendWr = 4, MaxRecvWr = 4 });
        Assert.Equal(QpState.Reset, qp.QueryState());
    }

    [RdmaDeviceFact]
    public void EventChannel_ListenOnAnyAddress_ReportsBoundEndpointAndTimesOutQuietly()
    {
        using var channel = RdmaEventChannel.Create();
        using var id = channel.CreateId();

        id.BindAddress(new IPEndPoint(IPAddress.Any, 0));
        id.Listen(4);

        Assert.NotNull(id.LocalEndPoint);
        Assert.NotEqual(0, id.LocalEndPoint!.Port);
        Assert.Null(channel.GetEvent(TimeSpan.FromMilliseconds(50)));
    }
}
