using System.Runtime.InteropServices;

namespace RdmaDiag.Native;

// librdmacm exports. Every int-returning call is 0 on success, -1 with errno on failure;
// rdma_create_event_channel returns NULL with errno.
internal static unsafe partial class Interop
{
    internal static unsafe partial class RdmaCm
    {
        internal const string Library = "librdmacm.so.1";

        [LibraryImport(Library, SetLastError = true)]
        internal static partial rdma_event_channel* rdma_create_event_channel();

        [LibraryImport(Library)]
        internal static partial void rdma_destroy_event_channel(rdma_event_channel* channel);

        [LibraryImport(Library, SetLastError = true)]
        internal static partial int rdma_create_id(rdma_event_channel* channel, rdma_cm_id** id, void* context, int ps);

        [LibraryImport(Library, SetLastError = true)]
        internal static partial int rdma_destroy_id(rdma_cm_id* id);

        [LibraryImport(Library, SetLastError = true)]
        internal static partial int rdma_bind_addr(rdma_cm_id* id, byte* addr);

        [LibraryImport(Library, SetLastError = true)]
        internal static partial int rdma_resolve_addr(rdma_cm_id* id, byte* src_addr, byte* dst_addr, int timeout_ms);

        [LibraryImport(Library, SetLastError = true)]
        internal static partial int rdma_resolve_route(rdma_cm_id* id, int timeout_ms);

        [LibraryImport(Library, SetLastError = true)]
        internal static partial int rdma_create_qp(rdma_cm_id* id, IbVerbs.ibv_pd* pd, IbVerbs.ibv_qp_init_attr* qp_init_attr);

        [LibraryImport(Library)]
        internal static partial void rdma_destroy_qp(rdma_cm_id* id);

        [LibraryImport(Library, SetLastError = true)]
        internal static partial int rdma_connect(rdma_cm_id* id, rdma_conn_param* conn_param);

        [LibraryImport(Library, SetLastError = true)]
        internal static partial int rdma_listen(rdma_cm_id* id, int backlog);

        [LibraryImport(Library, SetLastError = true)]
        internal static partial int rdma_accept(rdma_cm_id* id, rdma_conn_param* conn_param);

        [LibraryImport(Library, SetLastError = true)]
        internal static partial int rdma_reject(rdma_cm_id* id, void* private_data, byte private_data_len);

        [LibraryImport(Library, SetLastError = true)]
        internal static partial int rdma_disconnect(rdma_cm_id* id);

        [LibraryImport(Library, SetLastError = true)]
        internal static partial int rdma_get_cm_event(rdma_event_channel* channel, rdma_cm_event** @event);

        [LibraryImport(Library, SetLastError = true)]
        internal static partial int rdma_ack_cm_event(rdma_cm_event* @event);

        [LibraryImport(Library)]
        internal static partial byte* rdma_event_str(int @event);
    }
}
