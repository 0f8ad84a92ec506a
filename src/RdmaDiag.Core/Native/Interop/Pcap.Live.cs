using System.Runtime.InteropServices;
using RdmaDiag.Capture;

namespace RdmaDiag.Native;

internal static partial class Interop
{
    internal static unsafe partial class Pcap
    {
        [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial SafePcapHandle pcap_create(string source, byte* errbuf);

        [LibraryImport(Library)]
        internal static partial int pcap_set_snaplen(SafePcapHandle p, int snaplen);

        [LibraryImport(Library)]
        internal static partial int pcap_set_promisc(SafePcapHandle p, int promisc);

        [LibraryImport(Library)]
        internal static partial int pcap_set_timeout(SafePcapHandle p, int toMs);

        [LibraryImport(Library)]
        internal static partial int pcap_set_immediate_mode(SafePcapHandle p, int immediate);

        [LibraryImport(Library)]
        internal static partial int pcap_set_buffer_size(SafePcapHandle p, int bufferSize);

        [LibraryImport(Library)]
        internal static partial int pcap_set_tstamp_precision(SafePcapHandle p, int precision);

        [LibraryImport(Library)]
        internal static partial int pcap_get_tstamp_precision(SafePcapHandle p);

        [LibraryImport(Library)]
        internal static partial int pcap_activate(SafePcapHandle p);

        [LibraryImport(Library)]
        internal static partial int pcap_setnonblock(SafePcapHandle p, int nonblock, byte* errbuf);

        [LibraryImport(Library)]
        internal static partial int pcap_datalink(SafePcapHandle p);

        [LibraryImport(Library)]
        internal static partial int pcap_snapshot(SafePcapHandle p);

        [LibraryImport(Library)]
        internal static partial byte* pcap_geterr(SafePcapHandle p);

        [LibraryImport(Library)]
        internal static partial byte* pcap_statustostr(int error);

        [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int pcap_compile(SafePcapHandle p, bpf_program* fp, string str, int optimize, uint netmask);

        [LibraryImport(Library)]
        internal static partial int pcap_setfilter(SafePcapHandle p, bpf_program* fp);

        [LibraryImport(Library)]
        internal static partial void pcap_freecode(bpf_program* fp);

        /// <summary>1 = packet, 0 = timeout (read again), PCAP_ERROR_BREAK = pcap_breakloop was called, PCAP_ERROR = failure.</summary>
        [LibraryImport(Library)]
        internal static partial int pcap_next_ex(SafePcapHandle p, pcap_pkthdr** header, byte** data);

        [LibraryImport(Library)]
        internal static partial int pcap_stats(SafePcapHandle p, pcap_stat* stats);

        [LibraryImport(Library)]
        internal static partial void pcap_breakloop(SafePcapHandle p);

        [LibraryImport(Library)]
        internal static partial void pcap_close(nint p);

        [LibraryImport(Library)]
        internal static partial byte* pcap_lib_version();

        [LibraryImport(Library)]
        internal static partial int pcap_findalldevs(pcap_if** alldevs, byte* errbuf);

        [LibraryImport(Library)]
        internal static partial void pcap_freealldevs(pcap_if* alldevs);
    }
}
