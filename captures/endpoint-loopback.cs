#:project ../src/RdmaDiag.Core/RdmaDiag.Core.csproj
#:property PublishAot=false
// Makes captures/endpoint-loopback.pcapng: one session of RdmaDiag's userspace iWARP endpoint over loopback
// (real kernel TCP), captured with `rdmadiag capture -i lo --port 20049 -w FILE` running alongside.
// Run (with the endpoint branch merged, for src/RdmaDiag.Core/Endpoint), as root, while the capture runs:
//   rdmadiag capture -i lo --port 20049 -w captures/endpoint-loopback.pcapng --duration 12 &
//   dotnet run captures/endpoint-loopback.cs
using System.Net;
using RdmaDiag.Endpoint;

var wait = TimeSpan.FromSeconds(10);
var setup = new IwarpSetupOptions { Crc = CrcPolicy.Required, PeerToPeer = RtrTypes.Write | RtrTypes.Read };
using var listener = IwarpListener.Start(new IPEndPoint(IPAddress.Loopback, 20049), setup);
using var client = new IwarpConnection();
using var server = new IwarpConnection();

var written = new byte[1 << 20];
var readable = new byte[256 * 1024];
new Random(1).NextBytes(readable);
var atomic = new byte[16];
var writeRegion = server.RegisterMemory(written, MemoryAccess.RemoteWrite);
var readRegion = server.RegisterMemory(readable, MemoryAccess.RemoteRead);
var atomicRegion = server.RegisterMemory(atomic, MemoryAccess.RemoteAtomic, baseTO: 0x1000);
for (ulong i = 0; i < 8; i++)
{
    server.PostReceive(100 + i, new byte[64 * 1024]);
}
var sink = client.RegisterMemory(new byte[128 * 1024], MemoryAccess.LocalWrite);
client.PostReceive(200, new byte[4096]);

var connect = client.ConnectAsync(listener.LocalEndPoint, setup, "rdmadiag capture sample"u8.ToArray());
(await listener.AcceptAsync()).Accept(server);
await connect.WaitAsync(wait);

var message = new byte[10_000];
new Random(2).NextBytes(message);
client.PostSend(1, "hello"u8);
client.PostSend(2, message);
client.PostWrite(3, new byte[300_000], writeRegion.STag, writeRegion.BaseTO);
client.PostRead(4, sink, 0, 100_000, readRegion.STag, readRegion.BaseTO);
client.PostImmediate(5, 0x0102030405060708);
client.PostFetchAdd(6, atomicRegion.STag, 0x1008, 23);
client.PostCompareSwap(7, atomicRegion.STag, 0x1008, compare: 23, swap: 7);
for (var i = 0; i < 7; i++)
{
    var c = client.WaitForCompletion(wait);
    Console.WriteLine($"client {c.WorkRequestId} {c.Opcode} {c.Status}");
}
server.PostSend(8, "goodbye"u8);
Console.WriteLine($"client {client.WaitForCompletion(wait).Opcode}");
for (var i = 0; i < 4; i++)
{
    Console.WriteLine($"server {server.WaitForCompletion(wait).Opcode}");
}
client.Close();
server.Close();
