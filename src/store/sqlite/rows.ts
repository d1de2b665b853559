/** The row shapes and their mapping are shared by every SQL backend (see ../shared/rows.ts). */
export * from '../shared/rows.js';
