using System.Collections.Concurrent;
using RdmaDiag.Native;

namespace RdmaDiag.Verbs;

/// <summary>Where one connection's rdma_cm events come from.</summary>
internal interface ICmEventSource
{
    /// <summary>The next event for this connection, or null when none arrives within <paramref name="timeout"/>.</summary>
    RdmaCmEvent? Next(TimeSpan timeout);
}

/// <summary>A client's own event channel: only its id reports there, so the connection reads it directly.</summary>
internal sealed class OwnedChannelEvents(RdmaEventChannel channel) : ICmEventSource
{
    public RdmaCmEvent? Next(TimeSpan timeout)
    {
        try
        {
            return channel.GetEvent(timeout);
        }
        catch (InvalidOperationException)
        {
            // An event for an id already disposed (acknowledged by GetEvent): nothing for this connection.
            return null;
        }
    }
}

/// <summary>
/// An accepted connection's events: its id was born on the listener's channel, whose reader hands each
/// event to the connection it names.
/// </summary>
internal sealed class DispatchedEvents : ICmEventSource
{
    private readonly BlockingCollection<RdmaCmEvent> _queue = new();

    public void Post(RdmaCmEvent e) => _queue.Add(e);

    public RdmaCmEvent? Next(TimeSpan timeout) =>
        _queue.TryTake(out RdmaCmEvent? e, timeout <= TimeSpan.Zero ? TimeSpan.Zero : timeout) ? e : null;
}
