using System.Runtime.InteropServices;

namespace RdmaDiag.Native;

internal static partial class Interop
{
    /// <summary>libpcap (Debian package libpcap0.8). Native names verbatim; structs as in pcap/pcap.h for LP64 Linux.</summary>
    internal static partial class Pcap
    {
        internal const string Library = "libpcap.so.0.8";

        internal const int PCAP_ERRBUF_SIZE = 256;
        internal const int PCAP_ERROR = -1;
        internal const int PCAP_ERROR_BREAK = -2;
        internal const int PCAP_ERROR_NOT_ACTIVATED = -3;
        internal const int PCAP_ERROR_ACTIVATED = -4;
        internal const int PCAP_ERROR_NO_SUCH_DEVICE = -5;
        internal const int PCAP_ERROR_RFMON_NOTSUP = -6;
        internal const int PCAP_ERROR_NOT_RFMON = -7;
        internal const int PCAP_ERROR_PERM_DENIED = -8;
        internal const int PCAP_ERROR_IFACE_NOT_UP = -9;
        internal const int PCAP_ERROR_CANTSET_TSTAMP_TYPE = -10;
        internal const int PCAP_ERROR_PROMISC_PERM_DENIED = -11;
        internal const int PCAP_ERROR_TSTAMP_PRECISION_NOTSUP = -12;
        internal const int PCAP_WARNING_TSTAMP_TYPE_NOTSUP = 3;
        internal const int PCAP_TSTAMP_PRECISION_MICRO = 0;
        internal const int PCAP_TSTAMP_PRECISION_NANO = 1;
        internal const uint PCAP_NETMASK_UNKNOWN = 0xffffffff;

        /// <summary>struct pcap_pkthdr: struct timeval ts (two longs), caplen, len.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct pcap_pkthdr
        {
            public nint tv_sec;
            /// <summary>Microseconds, or nanoseconds when the handle's precision is PCAP_TSTAMP_PRECISION_NANO.</summary>
            public nint tv_usec;
            public uint caplen;
            public uint len;
        }

        /// <summary>struct pcap_stat (Linux: the three counters; ps_ifdrop is supported since 1.x).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct pcap_stat
        {
            public uint ps_recv;
            public uint ps_drop;
            public uint ps_ifdrop;
        }

        /// <summary>struct bpf_program: instruction count and pointer to the instructions.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct bpf_program
        {
            public uint bf_len;
            public nint bf_insns;
        }

        /// <summary>struct pcap_if (pcap_findalldevs list element).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct pcap_if
        {
            public pcap_if* next;
            public byte* name;
            public byte* description;
            public nint addresses;
            public uint flags;
        }
    }
}
