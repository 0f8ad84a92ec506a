using System.Runtime.InteropServices;
using RdmaDiag.Native;

namespace RdmaDiag.Capture;

/// <summary>Whether libpcap can be loaded here; probed once. Callers check this instead of catching DllNotFoundException.</summary>
public static class PcapLibrary
{
    private static readonly Lazy<string?> Probe = new(() =>
    {
        if (!NativeLibrary.TryLoad(Interop.Pcap.Library, out _))
        {
            return $"{Interop.Pcap.Library} not found: apt-get install libpcap0.8";
        }
        return null;
    });

    public static bool IsAvailable => Probe.Value is null;

    /// <summary>Why live capture cannot work here, or null when it can.</summary>
    public static string? UnavailableReason => Probe.Value;

    /// <summary>libpcap's own version string, e.g. "libpcap version 1.10.3 (with TPACKET_V3)".</summary>
    public static unsafe string Version => IsAvailable ? Marshal.PtrToStringUTF8((nint)Interop.Pcap.pcap_lib_version()) ?? "" : "";

    /// <summary>Names of the interfaces libpcap can capture on (includes "any").</summary>
    public static unsafe IReadOnlyList<string> InterfaceNames()
    {
        if (!IsAvailable)
        {
            return [];
        }
        var errbuf = stackalloc byte[Interop.Pcap.PCAP_ERRBUF_SIZE];
        Interop.Pcap.pcap_if* list;
        if (Interop.Pcap.pcap_findalldevs(&list, errbuf) != 0)
        {
            return [];
        }
        var names = new List<string>();
        try
        {
            for (var d = list; d != null; d = d->next)
            {
                names.Add(Marshal.PtrToStringUTF8((nint)d->name) ?? "");
            }
        }
        finally
        {
            Interop.Pcap.pcap_freealldevs(list);
        }
        return names;
    }
}
