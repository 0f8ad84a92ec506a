using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using RdmaDiag.Diagnostics.Devices;

namespace RdmaDiag.Diagnostics.Check.Route;

/// <summary>The kernel's route to the server, as <c>ip route get</c> shows it.</summary>
/// <param name="Type">rtm_type spelled as ip-route spells it: unicast, local, broadcast...</param>
/// <param name="PathMtu">The MTU the kernel learned for this destination (from ICMP 'fragmentation needed'), if any.</param>
public sealed record RouteInfo(
    IPAddress Destination,
    string Type,
    int Table,
    string? Interface,
    int InterfaceIndex,
    int? InterfaceMtu,
    IPAddress? Gateway,
    IPAddress? Source,
    int? PathMtu)
{
    /// <summary>The address the next frame goes to: the gateway, or the destination itself on a connected network.</summary>
    public IPAddress NextHop => Gateway ?? Destination;

    /// <summary><c>198.51.100.2 via 192.0.2.1 dev eth0 src 192.0.2.2 mtu 1500</c> (plus the learned path MTU when there is one).</summary>
    public override string ToString() =>
        $"{Destination}{(Type == "unicast" ? "" : $" ({Type})")}{(Gateway is null ? "" : $" via {Gateway}")} dev {Interface ?? $"#{InterfaceIndex}"}"
        + (Source is null ? "" : $" src {Source}")
        + (InterfaceMtu is { } mtu ? $" mtu {mtu}" : "")
        + (PathMtu is { } pmtu ? $", path MTU {pmtu} learned" : "")
        + (Table is 254 or 0 ? "" : $" table {Table}");
}

/// <summary>The kernel refused the route lookup: no route, or a route whose type forbids sending.</summary>
public sealed record RouteFailure(IPAddress Destination, int Errno, string Reason)
{
    public override string ToString() => $"{Destination}: {Reason} ({Marshal.GetPInvokeErrorMessage(Errno)}, errno {Errno})";
}

/// <summary>An RDMA device bound to the route's interface (from sysfs, as <c>rdmadiag devices</c> reads it).</summary>
/// <param name="HardwareIwarp">An RNIC that runs its own TCP (cxgb4, irdma, qedr...): host netfilter and host capture do not see its traffic.</param>
public sealed record RouteDevice(string Name, string Driver, string Transport, bool HardwareIwarp)
{
    public override string ToString() => $"{Name} ({Driver}, {Transport}{(HardwareIwarp ? ", hardware iWARP" : "")})";
}

/// <summary>Route lookups for <c>check</c>: the kernel's route, the RDMA devices on its interface, and the next hop's ARP state.</summary>
public static class RouteLookup
{
    private const int ENETUNREACH = 101;
    private const int EHOSTUNREACH = 113;
    private const int EACCES = 13;
    private const int EINVAL = 22;

    /// <summary>
    /// The route to <paramref name="destination"/> from the routing table of the calling thread's network
    /// namespace, with the interface's name and MTU; or why there is none.
    /// </summary>
    public static (RouteInfo? Route, RouteFailure? Failure) Lookup(IPAddress destination, TimeSpan timeout)
    {
        using var netlink = RouteNetlink.Open(timeout);
        RouteAnswer answer = netlink.GetRoute(destination);
        if (answer.Route is not { } raw)
        {
            string reason = answer.Errno switch
            {
                ENETUNREACH => "no route to this network",
                EHOSTUNREACH => "an unreachable route covers this address",
                EACCES => "a prohibit route covers this address",
                EINVAL => "a blackhole route covers this address",
                _ => "the route lookup failed",
            };
            return (null, new RouteFailure(destination, answer.Errno, reason));
        }
        var (name, mtu) = raw.InterfaceIndex > 0 ? netlink.GetLink(raw.InterfaceIndex) : (null, null);
        return (new RouteInfo(destination, TypeName(raw.Type), raw.Table, name, raw.InterfaceIndex, mtu, raw.Gateway, raw.Source, raw.PathMtu), null);
    }

    private static string TypeName(byte type) => type switch
    {
        1 => "unicast",
        2 => "local",
        3 => "broadcast",
        4 => "anycast",
        5 => "multicast",
        6 => "blackhole",
        7 => "unreachable",
        8 => "prohibit",
        9 => "throw",
        _ => $"type {type}",
    };

    /// <summary>RDMA devices whose bound netdevs include <paramref name="interfaceName"/>.</summary>
    public static IReadOnlyList<RouteDevice> DevicesOn(IHostSource host, string interfaceName)
    {
        if (!host.DirectoryExists(SysfsDeviceScanner.ClassDir))
        {
            return [];
        }
        var links = SysfsDeviceScanner.ParseRdmaLink(host.RunTool("rdma", "link", "show"));
        return SysfsDeviceScanner.Scan(host, links)
            .Where(d => d.Netdevs.Any(n => n.Name == interfaceName))
            .Select(d => new RouteDevice(d.Name, d.Driver, d.Transport, SysfsDeviceScanner.IsIwarpHardware(d)))
            .ToList();
    }

    /// <summary>
    /// The ARP state of <paramref name="address"/> in the calling thread's namespace
    /// (/proc/thread-self/net/arp): "complete", "incomplete" (asked, no answer), or null when not listed.
    /// </summary>
    public static string? NeighbourState(IPAddress address, string arpTable = "/proc/thread-self/net/arp")
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(arpTable);
        }
        catch (IOException)
        {
            return null;
        }
        string wanted = address.ToString();
        foreach (string line in lines.Skip(1))
        {
            string[] fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 3 && fields[0] == wanted
                && int.TryParse(fields[2].Replace("0x", "", StringComparison.Ordinal), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int flags))
            {
                // ATF_COM (0x02): the hardware address is known.
                return (flags & 0x02) != 0 ? "complete" : "incomplete";
            }
        }
        return null;
    }
}
