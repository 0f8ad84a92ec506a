namespace RdmaDiag.Native;

/// <summary>
/// Marks an interop struct as a mirror of a C type declared in <see cref="Header"/>. The layout test
/// finds every struct so marked, generates a C program printing offsetof/sizeof for each field and the
/// type, compiles it against the installed headers and compares with the C# layout.
/// </summary>
[AttributeUsage(AttributeTargets.Struct)]
internal sealed class CTypeAttribute(string cType, string header) : Attribute
{
    public string CType { get; } = cType;
    public string Header { get; } = header;
}

/// <summary>
/// The C member designator (as offsetof takes it) of a flattened field, e.g. <c>wr.rdma.remote_addr</c>.
/// Without it the C# field name is the C member name.
/// </summary>
[AttributeUsage(AttributeTargets.Field)]
internal sealed class CFieldAttribute(string designator) : Attribute
{
    public string Designator { get; } = designator;
}
