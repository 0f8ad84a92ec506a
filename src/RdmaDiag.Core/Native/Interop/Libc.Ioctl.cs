using System.Runtime.InteropServices;

namespace RdmaDiag.Native;

internal static partial class Interop
{
    internal static partial class Libc
    {
        internal const nuint SIOCETHTOOL = 0x8946;
        internal const nuint SIOCGHWTSTAMP = 0x89b1;

        internal const uint ETHTOOL_GET_TS_INFO = 0x41;

        internal const int IFNAMSIZ = 16;

        // linux/net_tstamp.h enum hwtstamp_rx_filters
        internal const int HWTSTAMP_FILTER_NONE = 0;

        /// <summary>struct ifreq: a 16-byte name and a 24-byte union; only ifr_data is used here.</summary>
        [StructLayout(LayoutKind.Sequential, Size = 40)]
        internal unsafe struct Ifreq
        {
            public fixed byte ifr_name[IFNAMSIZ];
            public void* ifr_data;
        }

        /// <summary>struct ethtool_ts_info (linux/ethtool.h), 44 bytes.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct EthtoolTsInfo
        {
            public uint cmd;
            public uint so_timestamping;
            public int phc_index;
            public uint tx_types;
            public fixed uint tx_reserved[3];
            public uint rx_filters;
            public fixed uint rx_reserved[3];
        }

        /// <summary>struct hwtstamp_config (linux/net_tstamp.h).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct HwtstampConfig
        {
            public int flags;
            public int tx_type;
            public int rx_filter;
        }

        // ioctl is variadic in C; the one pointer argument travels in the same register either way on
        // the LP64 Linux ABIs (x86-64 System V, AAPCS64).
        [LibraryImport(LibraryName, SetLastError = true)]
        internal static unsafe partial int ioctl(int fd, nuint request, void* argp);
    }
}
