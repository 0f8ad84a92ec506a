using System.Net;
using RdmaDiag.Diagnostics.Check.Route;
using RdmaDiag.Tests.Native;

namespace RdmaDiag.Tests.CheckVerb;

public class RouteLookupTests
{
    [Fact]
    public void Lookup_Loopback_LocalRouteOnLo()
    {
        var (route, failure) = RouteLookup.Lookup(IPAddress.Loopback, TimeSpan.FromSeconds(1));

        Assert.Null(failure);
        Assert.NotNull(route);
        Assert.Equal("local", route.Type);
        Assert.Equal("lo", route.Interface);
        Assert.True(route.InterfaceMtu > 0);
        Assert.Equal(IPAddress.Loopback, route.NextHop);
        Assert.StartsWith("127.0.0.1 (local) dev lo src 127.0.0.1 mtu", route.ToString());
    }

    [Fact]
    public void Lookup_Ipv6Loopback_LocalRouteOnLo()
    {
        var (route, failure) = RouteLookup.Lookup(IPAddress.IPv6Loopback, TimeSpan.FromSeconds(1));

        if (failure is not null)
        {
            // IPv6 disabled on this host: the kernel says so with an errno, which is a valid answer.
            Assert.True(failure.Errno > 0);
            return;
        }
        Assert.Equal("lo", route!.Interface);
    }

    [Fact]
    public void DevicesOn_Cxgb4Fixture_HardwareIwarpOnItsNetdev()
    {
        using var fixture = SysfsFixture.Load("cxgb4.tree");

        var devices = RouteLookup.DevicesOn(fixture.Host, "enp3s0f4");

        RouteDevice device = Assert.Single(devices);
        Assert.Equal("cxgb4", device.Driver);
        Assert.True(device.HardwareIwarp);
        Assert.Empty(RouteLookup.DevicesOn(fixture.Host, "eth9"));
    }

    [Fact]
    public void DevicesOn_SiwFixture_SoftwareIwarpIsNotHardware()
    {
        using var fixture = SysfsFixture.Load("siw.tree");

        RouteDevice device = Assert.Single(RouteLookup.DevicesOn(fixture.Host, "dummy0"));

        Assert.Equal("siw", device.Driver);
        Assert.False(device.HardwareIwarp);
    }

    [Fact]
    public void NeighbourState_ArpTable_CompleteIncompleteAndMissing()
    {
        string file = Path.GetTempFileName();
        try
        {
            File.WriteAllLines(file,
            [
                "IP address       HW type     Flags       HW address            Mask     Device",
                "192.0.2.1        0x1         0x2         52:54:00:12:34:56     *        eth0",
                "192.0.2.9        0x1         0x0         00:00:00:00:00:00     *        eth0",
            ]);

            Assert.Equal("complete", RouteLookup.NeighbourState(IPAddress.Parse("192.0.2.1"), file));
            Assert.Equal("incomplete", RouteLookup.NeighbourState(IPAddress.Parse("192.0.2.9"), file));
            Assert.Null(RouteLookup.NeighbourState(IPAddress.Parse("192.0.2.7"), file));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
