using Microsoft.Win32.SafeHandles;
using RdmaDiag.Native;

namespace RdmaDiag.Capture;

/// <summary>Owns a libpcap <c>pcap_t*</c>; closing it calls <c>pcap_close</c>.</summary>
internal sealed class SafePcapHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public SafePcapHandle() : base(ownsHandle: true)
    {
    }

    protected override bool ReleaseHandle()
    {
        Interop.Pcap.pcap_close(handle);
        return true;
    }
}
