using System.Runtime.CompilerServices;

// Native calls use [LibraryImport] with blittable types only; marshalling is done by hand where needed.
[assembly: DisableRuntimeMarshalling]

namespace RdmaDiag.Native;

/// <summary>
/// All P/Invoke declarations, one nested class per native library (Interop.IbVerbs, Interop.RdmaCm,
/// Interop.Pcap, Interop.Libc), one file per function family, native names verbatim.
/// </summary>
internal static partial class Interop
{
}
