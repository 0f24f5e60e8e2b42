import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** @type {import('@sveltejs/vite-plugin-svelte').SvelteConfig} */
export default {
  // Lets `<script lang="ts">` and typed `$props()` compile; svelte-check reads it too.
  preprocess: vitePreprocess(),
};
