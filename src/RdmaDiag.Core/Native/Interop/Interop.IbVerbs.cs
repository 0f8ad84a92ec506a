using System.Runtime.InteropServices;

namespace RdmaDiag.Native;

// libibverbs exports. errno conventions (see RdmaNativeException):
//   constructors return NULL and set errno          → SetLastError = true, read right after the call;
//   ibv_query_*, ibv_modify_qp, ibv_destroy_*, ibv_dealloc_pd, ibv_dereg_mr, ibv_close_device
//                                                   → return 0 or the errno value itself;
//   ibv_get_cq_event, ibv_query_gid                 → 0, or -1 with errno.
// ibv_poll_cq, ibv_req_notify_cq, ibv_post_send and ibv_post_recv are static inline in verbs.h and
// have no export: IbVerbsOps calls them through ibv_context.ops.
internal static unsafe partial class Interop
{
    internal static unsafe partial class IbVerbs
    {
        internal const string Library = "libibverbs.so.1";

        [LibraryImport(Library, SetLastError = true)]
        internal static partial ibv_device** ibv_get_device_list(int* num_devices);

        [LibraryImport(Library)]
        internal static partial void ibv_free_device_list(ibv_device** list);

        [LibraryImport(Library)]
        internal static partial ulong ibv_get_device_guid(ibv_device* device);

        [LibraryImport(Library, SetLastError = true)]
        internal static partial ibv_context* ibv_open_device(ibv_device* device);

        [LibraryImport(Library)]
        internal static partial int ibv_close_device(ibv_context* context);

        [LibraryImport(Library)]
        internal static partial int ibv_query_device(ibv_context* context, ibv_device_attr* device_attr);

        /// <summary>
        /// The exported compat entry point; verbs.h's inline wrapper prefers verbs_context.query_port.
        /// Callers pass a zeroed full-size <see cref="ibv_port_attr"/> as the inline wrapper does.
        /// </summary>
        [LibraryImport(Library)]
        internal static partial int ibv_query_port(ibv_context* context, byte port_num, ibv_port_attr* port_attr);

        /// <summary>0, or -1 with errno (rdma-core ≥ 32 maps every failure to -1).</summary>
        [LibraryImport(Library, SetLastError = true)]
        internal static partial int ibv_query_gid(ibv_context* context, byte port_num, int index, ibv_gid* gid);

        [LibraryImport(Library, SetLastError = true)]
        internal static partial ibv_pd* ibv_alloc_pd(ibv_context* context);

        [LibraryImport(Library)]
        internal static partial int ibv_dealloc_pd(ibv_pd* pd);

        [LibraryImport(Library, SetLastError = true)]
        internal static partial ibv_mr* ibv_reg_mr(ibv_pd* pd, void* addr, nuint length, int access);

        [LibraryImport(Library)]
        internal static partial int ibv_dereg_mr(ibv_mr* mr);

        [LibraryImport(Library, SetLastError = true)]
        internal static partial ibv_comp_channel* ibv_create_comp_channel(ibv_context* context);

        [LibraryImport(Library)]
        internal static partial int ibv_destroy_comp_channel(ibv_comp_channel* channel);

        [LibraryImport(Library, SetLastError = true)]
        internal static partial ibv_cq* ibv_create_cq(ibv_context* context, int cqe, void* cq_context, ibv_comp_channel* channel, int comp_vector);

        [LibraryImport(Library)]
        internal static partial int ibv_destroy_cq(ibv_cq* cq);

        [LibraryImport(Library, SetLastError = true)]
        internal static partial int ibv_get_cq_event(ibv_comp_channel* channel, ibv_cq** cq, void** cq_context);

        [LibraryImport(Library)]
        internal static partial void ibv_ack_cq_events(ibv_cq* cq, uint nevents);

        [LibraryImport(Library, SetLastError = true)]
        internal static partial ibv_qp* ibv_create_qp(ibv_pd* pd, ibv_qp_init_attr* qp_init_attr);

        [LibraryImport(Library)]
        internal static partial int ibv_modify_qp(ibv_qp* qp, ibv_qp_attr* attr, int attr_mask);

        [LibraryImport(Library)]
        internal static partial int ibv_query_qp(ibv_qp* qp, ibv_qp_attr* attr, int attr_mask, ibv_qp_init_attr* init_attr);

        [LibraryImport(Library)]
        internal static partial int ibv_destroy_qp(ibv_qp* qp);

        [LibraryImport(Library)]
        internal static partial byte* ibv_wc_status_str(int status);
    }
}
