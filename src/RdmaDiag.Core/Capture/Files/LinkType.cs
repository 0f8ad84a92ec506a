namespace RdmaDiag.Capture;

/// <summary>
/// Link-layer header types (the tcpdump.org LINKTYPE_ registry, as stored in pcap and pcapng files).
/// Only the ones RdmaDiag parses are named; any other value is carried through as a number.
/// </summary>
public enum LinkType : ushort
{
    /// <summary>BSD loopback: a 4-octet address family in the capturing host's byte order.</summary>
    Null = 0,
    Ethernet = 1,
    /// <summary>Raw IPv4 or IPv6; the version nibble says which. (DLT_RAW is 12 or 14 on some systems; files use 101.)</summary>
    Raw = 101,
    /// <summary>OpenBSD loopback: like <see cref="Null"/> but the family is big-endian.</summary>
    Loop = 108,
    /// <summary>Linux cooked capture v1 (16-octet header), what "any" gives with libpcap before 1.10.</summary>
    LinuxSll = 113,
    Ipv4 = 228,
    Ipv6 = 229,
    /// <summary>Linux cooked capture v2 (20-octet header, carries the interface index).</summary>
    LinuxSll2 = 276,
}

public static class LinkTypes
{
    /// <summary>True when <see cref="PacketParser"/> can decode frames of this link type.</summary>
    public static bool IsSupported(LinkType type) => type switch
    {
        LinkType.Null or LinkType.Ethernet or LinkType.Raw or LinkType.Loop or LinkType.LinuxSll
            or LinkType.Ipv4 or LinkType.Ipv6 or LinkType.LinuxSll2 => true,
        _ => false,
    };

    /// <summary>
    /// Maps a live DLT_ value (as <c>pcap_datalink</c> returns it) to the LINKTYPE_ value written to files.
    /// They differ only for DLT_RAW (12 on Linux, 14 on OpenBSD).
    /// </summary>
    public static LinkType FromDlt(int dlt) => dlt switch
    {
        12 or 14 => LinkType.Raw,
        _ => (LinkType)(ushort)dlt,
    };

    public static string Describe(LinkType type) => IsSupported(type)
        ? $"{(int)type} ({type})"
        : $"{(int)type}";

    public const string SupportedList = "0 (NULL), 1 (ETHERNET), 101 (RAW), 108 (LOOP), 113 (LINUX_SLL), 228 (IPV4), 229 (IPV6), 276 (LINUX_SLL2)";
}
