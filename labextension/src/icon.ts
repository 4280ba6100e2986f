import { LabIcon } from '@jupyterlab/ui-components';

/**
 * A glass jar with a sprout. The `jp-icon3` class makes JupyterLab colour it
 * from the theme (the `fill` attribute is only the fallback).
 */
const svgstr = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M8 2h8v2h-1v2.1c2.9 1.1 5 3.9 5 7.1V19a3 3 0 0 1-3 3H7a3 3 0 0 1-3-3v-5.8c0-3.2 2.1-6 5-7.1V4H8V2zm3 2v3.6l-.7.2C7.8 8.5 6 10.7 6 13.2V19a1 1 0 0 0 1 1h10a1 1 0 0 0 1-1v-5.8c0-2.5-1.8-4.7-4.3-5.4l-.7-.2V4h-2z"/>
    <path d="M11.25 13h1.5v6h-1.5z"/>
    <path d="M11.5 15.75C8.9 15.75 7.5 14.3 7.5 11.75c2.6 0 4 1.45 4 4z"/>
    <path d="M12.5 14.25c0-2.55 1.4-4 4-4 0 2.55-1.4 4-4 4z"/>
  </g>
</svg>`;

export const terrariumIcon = new LabIcon({ name: 'terrarium:icon', svgstr });
