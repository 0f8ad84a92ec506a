namespace RdmaDiag.Diagnostics.Findings;

/// <summary>Receives findings as they are made, in the order they are made.</summary>
public interface IFindingSink
{
    void Report(Finding finding);
}

/// <summary>Keeps every finding in a list.</summary>
public sealed class FindingList : IFindingSink
{
    private readonly List<Finding> _items = [];

    public IReadOnlyList<Finding> Items => _items;

    public void Report(Finding finding) => _items.Add(finding);
}

/// <summary>Calls a delegate for each finding (printing them live, forwarding them elsewhere).</summary>
public sealed class DelegateFindingSink(Action<Finding> report) : IFindingSink
{
    public void Report(Finding finding) => report(finding);
}
