using System.Net;
using RdmaDiag.Native;

namespace RdmaDiag.Tests.Native;

public class NativeErrorPathTests
{
    [NoRdmaKernelFact]
    public void ListDevices_KernelWithoutRdma_ThrowsEnosys()
    {
        var e = Assert.Throws<RdmaNativeException>(() => VerbsDevices.List());

        Assert.Equal("ibv_get_device_list", e.Function);
        Assert.Equal(Errno.ENOSYS, e.Errno);
        Assert.Contains("Function not implemented", e.Message);
        Assert.Contains("ENOSYS", e.Message);
    }

    [NoRdmaKernelFact]
    public void CreateEventChannel_KernelWithoutRdma_ThrowsEnodev()
    {
        var e = Assert.Throws<RdmaNativeException>(() => RdmaEventChannel.Create());

        Assert.Equal("rdma_create_event_channel", e.Function);
        Assert.Equal(Errno.ENODEV, e.Errno);
        Assert.Contains("No such device", e.Message);
    }

    [NoRdmaKernelFact]
    public void OpenDevice_KernelWithoutRdma_ThrowsEnosysNotUserError()
    {
        var e = Assert.Throws<RdmaNativeException>(() => VerbsDevices.Open("siw0"));

        Assert.Equal(Errno.ENOSYS, e.Errno);
    }

    [Fact]
    public void LibraryStatus_MissingSoname_ExplainsPackage()
    {
        var status = NativeLibraryStatus.Probe("libibverbs-does-not-exist.so.1", "libibverbs1", "ibv_get_device_list");

        Assert.False(status.IsAvailable);
        Assert.Contains("apt-get install libibverbs1", status.UnavailableReason);
        Assert.Contains("libibverbs-does-not-exist.so.1", status.UnavailableReason);
    }

    [Fact]
    public void LibraryStatus_WrongLibrary_SaysExportMissing()
    {
        var status = NativeLibraryStatus.Probe("libc.so.6", "libibverbs1", "ibv_get_device_list");

        Assert.False(status.IsAvailable);
        Assert.Contains("no export ibv_get_device_list", status.UnavailableReason);
    }

    [Fact]
    public void RdmaNativeException_UnknownErrno_ShowsNumberOnly()
    {
        var e = new RdmaNativeException("rdma_connect", 4095, "10.0.0.1:7174");

        Assert.Null(e.ErrnoName);
        Assert.StartsWith("rdma_connect failed (10.0.0.1:7174): ", e.Message);
        Assert.EndsWith("(errno 4095)", e.Message);
    }

    [Theory]
    [InlineData("192.0.2.7", 7174)]
    [InlineData("2001:db8::1", 18515)]
    public void SockAddr_WrittenThenRead_RoundTrips(string address, int port)
    {
        var endPoint = new IPEndPoint(IPAddress.Parse(address), port);
        var storage = new byte[SockAddr.StorageSize];
        Array.Fill(storage, (byte)0xFF);

        SockAddr.Write(endPoint, storage);

        Assert.Equal(endPoint, SockAddr.Read(storage));
    }

    [Fact]
    public void SockAddr_Ipv4_HasLinuxWireLayout()
    {
        var storage = new byte[SockAddr.StorageSize];

        SockAddr.Write(new IPEndPoint(IPAddress.Parse("10.9.9.1"), 7174), storage);

        // sa_family AF_INET (host order), port 7174 = 0x1C06 big-endian, 10.9.9.1, zero padding.
        Assert.Equal(Convert.FromHexString("02001C060A09090100000000000000000000"), storage[..18]);
    }

    [Fact]
    public void SockAddr_UnspecifiedFamily_ReadsNull()
    {
        Assert.Null(SockAddr.Read(new byte[SockAddr.StorageSize]));
    }

    [Fact]
    public void ConnectionParameters_PrivateDataOver255_IsUserError()
    {
        var p = new ConnectionParameters { PrivateData = new byte[256] };

        var e = Assert.Throws<UserInputException>(() => { unsafe { p.ToNative(null); } });

        Assert.Contains("256 bytes", e.Message);
        Assert.Contains("255", e.Message);
    }

    [Fact]
    public void MemoryRegionSlice_OutsideRegion_Throws()
    {
        var handle = new IbvMrHandle();
        using var mr = new MemoryRegion(handle, 0x1000, 64, 1, 2);

        Assert.Equal(new ScatterGatherElement(0x1010, 16, 1), mr.Slice(16, 16));
        Assert.Throws<ArgumentOutOfRangeException>(() => mr.Slice(60, 8));
    }
}
